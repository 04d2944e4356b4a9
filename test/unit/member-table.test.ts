// The member table's reaping rules (src/core/member-table.ts), one record at a time.
import { describe, expect, it } from 'vitest'
import { TEST } from '../../src/core/config.js'
import { MemberTable } from '../../src/core/member-table.js'
import type { MemberState, NodeRecord } from '../../src/core/types.js'

const REAP_MS = 1_000
const config = { ...TEST, reapAfterMs: REAP_MS }

function rec(id: string, state: MemberState, incarnation: number): NodeRecord {
  return {
    id, name: id, incarnation, state, seq: 0, by: state === 'alive' ? '' : 'self', addrs: [], api: '',
    resources: { total: { cpu: 1, memoryMb: 1 }, free: { cpu: 1, memoryMb: 1 } }, labels: {}, draining: false, allocations: 0,
  }
}

function table(): MemberTable {
  const t = new MemberTable('self', config)
  t.put(rec('self', 'alive', 1), 0)
  return t
}

describe('MemberTable', () => {
  it('lists its dead records as a filter of records() would, through revivals, leaves and reaping', () => {
    const t = table()
    const dead = (): string[] => t.deadRecords().map((r) => r.id)
    const byFilter = (): string[] => t.records().filter((r) => r.state === 'dead').map((r) => r.id)
    expect(dead()).toEqual([])
    for (const id of ['a', 'b', 'c', 'd']) t.put(rec(id, 'alive', 1), 0)
    t.put(rec('c', 'dead', 1), 10)
    t.put(rec('a', 'dead', 1), 20)
    t.put(rec('a', 'dead', 1), 30)
    expect(dead()).toEqual(['a', 'c'])
    expect(dead()).toEqual(byFilter())
    t.put(rec('a', 'alive', 2), 40)
    t.put(rec('b', 'left', 1), 50)
    expect(dead()).toEqual(['c'])
    t.put(rec('d', 'dead', 1), 60)
    t.reap(10 + REAP_MS)
    expect(dead()).toEqual(['d'])
    expect(dead()).toEqual(byFilter())
    t.reap(60 + REAP_MS)
    expect(dead()).toEqual([])
    expect(byFilter()).toEqual([])
  })

  it('takes a stranger in only through a live record', () => {
    const t = table()
    expect(t.admits(rec('x', 'dead', 3), 0)).toBe(false)
    expect(t.admits(rec('x', 'left', 3), 0)).toBe(false)
    expect(t.admits(rec('x', 'suspect', 3), 0)).toBe(true)
    expect(t.admits(rec('x', 'alive', 3), 0)).toBe(true)
  })

  it('reaps a dead member reapAfterMs after it died here, not after it was first heard of', () => {
    const t = table()
    t.put(rec('x', 'alive', 2), 0)
    t.put(rec('x', 'dead', 2), 500)
    // dead -> left at the same incarnation keeps the clock of the first going.
    t.put(rec('x', 'left', 2), 900)
    expect(t.reapDue()).toBe(500 + REAP_MS)
    expect(t.reap(500 + REAP_MS - 1)).toEqual([])
    expect(t.reap(500 + REAP_MS)).toEqual(['x'])
    expect(t.has('x')).toBe(false)
    expect(t.records().map((r) => r.id)).toEqual(['self'])
  })

  it('keeps a reaped member out at its old incarnation, even alive, for another reapAfterMs', () => {
    const t = table()
    t.put(rec('x', 'alive', 2), 0)
    t.put(rec('x', 'dead', 2), 0)
    t.reap(REAP_MS)
    expect(t.tombstoneCount()).toBe(1)
    // A node that never heard of the death still holds it alive at 2.
    expect(t.admits(rec('x', 'alive', 2), REAP_MS + 10)).toBe(false)
    expect(t.admits(rec('x', 'alive', 1), REAP_MS + 10)).toBe(false)
    // It restarted: a higher incarnation joins.
    expect(t.admits(rec('x', 'alive', 3), REAP_MS + 10)).toBe(true)
    // The tombstone ends too.
    expect(t.reapDue()).toBe(2 * REAP_MS)
    t.reap(2 * REAP_MS)
    expect(t.tombstoneCount()).toBe(0)
    expect(t.admits(rec('x', 'alive', 2), 2 * REAP_MS)).toBe(true)
  })

  it('a member back alive before its time is not reaped, and a new record clears its tombstone', () => {
    const t = table()
    t.put(rec('x', 'alive', 2), 0)
    t.put(rec('x', 'dead', 2), 0)
    t.put(rec('x', 'alive', 3), 200)
    expect(t.reap(REAP_MS)).toEqual([])
    expect(t.get('x')?.state).toBe('alive')
    t.put(rec('y', 'alive', 1), 0)
    t.put(rec('y', 'dead', 1), 0)
    t.reap(REAP_MS)
    t.put(rec('y', 'alive', 2), REAP_MS + 1)
    expect(t.tombstoneCount()).toBe(0)
    expect(t.liveOthers()).toEqual(['x', 'y'])
  })

  it('never reaps itself', () => {
    const t = table()
    t.put(rec('self', 'left', 1), 0)
    expect(t.reap(10 * REAP_MS)).toEqual([])
    expect(t.has('self')).toBe(true)
  })
})
