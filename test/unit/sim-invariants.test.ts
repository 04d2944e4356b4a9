// The invariant checks themselves, on hand-made run histories: they must catch what they claim to.
import { describe, expect, it } from 'vitest'
import { checkDuplicates, checkOvercommit, type Impairment, type SimRun } from '../../src/sim/invariants.js'

const run = (node: string, startedAt: number, endedAt: number | null, over: Partial<SimRun> = {}): SimRun => ({
  allocId: `${node}-${startedAt}`, jobId: 'j', index: 0, node, startedAt, endedAt, resources: { cpu: 1, memoryMb: 100 }, exitCode: 0, ...over,
})

describe('simulator invariants', () => {
  it('flags two overlapping runs of one instance that no fault explains', () => {
    const r = checkDuplicates([run('a', 0, 100), run('b', 50, 150)], [], 1_000)
    expect(r.violations).toEqual(['j/0 on a and b from 50 to 100'])
    expect(r.fenced).toEqual([])
  })

  it('does not count back-to-back runs, or runs of different instances', () => {
    expect(checkDuplicates([run('a', 0, 100), run('b', 100, 150), run('c', 50, 90, { index: 1 })], [], 1_000).violations).toEqual([])
  })

  it('excuses an overlap after a freeze if it is stopped soon after the thaw, and not otherwise', () => {
    const freeze: Impairment = { node: 'a', kind: 'freeze', from: 1_000, to: 5_000 }
    // b took over at 3 s while a was frozen; a's copy was fenced 2 s after the thaw.
    const fenced = checkDuplicates([run('a', 0, 7_000), run('b', 3_000, 9_000)], [freeze], 20_000)
    expect(fenced.violations).toEqual([])
    expect(fenced.fenced).toHaveLength(1)
    // The same duplicate left running long after the thaw breaks the promise.
    const zombie = checkDuplicates([run('a', 0, 40_000), run('b', 3_000, 50_000)], [freeze], 60_000)
    expect(zombie.violations).toHaveLength(1)
    // A duplicate that starts long after the fault is not excused by it.
    expect(checkDuplicates([run('a', 0, 90_000), run('b', 80_000, 85_000)], [freeze], 100_000).violations).toHaveLength(1)
  })

  it('finds the first moment a node runs more than it declared; ends free room at the same instant', () => {
    const totals = new Map([['a', { cpu: 2, memoryMb: 1_000 }]])
    expect(checkOvercommit([run('a', 0, 100), run('a', 100, 200), run('a', 150, 300)], totals, 1_000)).toEqual([])
    expect(checkOvercommit([run('a', 0, 100), run('a', 10, 200), run('a', 20, null)], totals, 1_000)).toEqual(['a at 20: 3 cpu 300 MB of 2 cpu 1000 MB'])
    expect(checkOvercommit([run('a', 0, null, { resources: { cpu: 0.5, memoryMb: 1_200 } })], totals, 1_000)).toHaveLength(1)
  })
})
