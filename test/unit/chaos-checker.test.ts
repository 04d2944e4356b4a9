// The chaos checker on hand-made histories: each invariant passes on a clean history and fails on
// one built to break it; duplicates and recovery figures come out as they should.
import { describe, expect, it } from 'vitest'
import { checkLost, checkOvercommit, checkSucceededRan, checkSuccessKept, findDuplicates, negativeFrees, recoveryTimes } from '../../scripts/chaos/checker.js'
import type { AgentJobsView, AllocView, AppliedFault, Capacity, EndKind, JobEvent, JobView, Run } from '../../scripts/chaos/types.js'

function run(node: string, allocId: string, start: number, end: number, endKind: EndKind = 'end'): Run {
  const m = /^(.+)\.(\d+)\.(\d+)$/.exec(allocId)!
  return { node, allocId, jobId: m[1]!, index: Number(m[2]), attempt: Number(m[3]), pid: start, start, end, endKind }
}

const CAP: Record<string, Capacity> = { n1: { cpu: 2, memoryMb: 2048 }, n2: { cpu: 2, memoryMb: 2048 } }
const sizes: Record<string, Capacity> = {
  big: { cpu: 0.75, memoryMb: 512 }, mid: { cpu: 0.5, memoryMb: 256 }, small: { cpu: 0.25, memoryMb: 128 }, fat: { cpu: 0.25, memoryMb: 1500 },
}
const sizeOf = (jobId: string): Capacity | undefined => sizes[jobId.split('-')[0]!]

function alloc(index: number, attempt: number, nodeName: string, state: string, finishedAt: number | null = null): AllocView {
  return { index, attempt, nodeId: `peer-${nodeName}`, nodeName, state, exitCode: state === 'succeeded' ? 0 : null, startedAt: null, finishedAt: finishedAt === null ? null : new Date(finishedAt).toISOString() }
}
function job(id: string, state: string, allocations: AllocView[], type: 'batch' | 'service' = 'batch', count = 1): JobView {
  return { id, type, state, spec: { count, resources: { cpu: 0.5, memoryMb: 256 } }, allocations }
}
function fault(kind: AppliedFault['kind'], node: string, at: number, detectedAt: number | null = at + 1_500, backAt: number | null = at + 5_000): AppliedFault {
  return { seq: 1, kind, node, plannedAt: at, at, backAt, upAt: backAt, detectedAt }
}

describe('overcommit', () => {
  it('passes when a node is exactly full, and when a start comes at the very ms of an end', () => {
    const runs = [
      run('n1', 'big-a.0.1', 0, 1_000), run('n1', 'big-b.0.1', 0, 1_000), run('n1', 'mid-c.0.1', 0, 1_000),
      run('n1', 'small-d.0.1', 1_000, 2_000), // starts exactly when three others end
      run('n2', 'big-e.0.1', 500, 1_500), // another node: not summed with n1
    ]
    expect(checkOvercommit(runs, CAP, sizeOf)).toEqual([])
  })

  it('fails when the runs on one node add up to more cpu than it declared', () => {
    const runs = [
      run('n1', 'big-a.0.1', 0, 1_000), run('n1', 'big-b.0.1', 0, 1_000), run('n1', 'mid-c.0.1', 0, 1_000),
      run('n1', 'small-d.0.1', 600, 2_000),
    ]
    const events = checkOvercommit(runs, CAP, sizeOf)
    expect(events).toHaveLength(1)
    expect(events[0]).toMatchObject({ node: 'n1', from: 600, to: 1_000, peak: { cpu: 2.25 } })
    expect(events[0]!.allocs.sort()).toEqual(['big-a.0.1', 'big-b.0.1', 'mid-c.0.1', 'small-d.0.1'])
  })

  it('fails on memory alone', () => {
    const runs = [run('n2', 'fat-a.0.1', 0, 5_000), run('n2', 'fat-b.0.1', 4_000, 6_000), run('n2', 'small-c.0.1', 4_500, 4_800)]
    expect(checkOvercommit(runs, CAP, sizeOf)).toEqual([
      { node: 'n2', from: 4_000, to: 5_000, capacity: CAP.n2, peak: { cpu: 0.75, memoryMb: 3128 }, allocs: ['fat-a.0.1', 'fat-b.0.1', 'small-c.0.1'] },
    ])
  })

  it('counts an orphan of a killed agent until its reap: a new run before the reap overcommits', () => {
    // The orphan (reaped at 3000) and two new runs on the restarted node.
    const orphan = run('n1', 'big-a.0.1', 0, 3_000, 'reaped')
    const after = [run('n1', 'big-b.0.2', 3_000, 5_000), run('n1', 'big-c.0.1', 3_000, 5_000), run('n1', 'mid-d.0.1', 3_000, 5_000)]
    expect(checkOvercommit([orphan, ...after], CAP, sizeOf)).toEqual([])
    const early = [run('n1', 'big-b.0.2', 2_500, 5_000), run('n1', 'big-c.0.1', 2_500, 5_000), run('n1', 'mid-d.0.1', 2_500, 5_000)]
    expect(checkOvercommit([orphan, ...early], CAP, sizeOf)).toMatchObject([{ node: 'n1', from: 2_500, to: 3_000 }])
  })

  it('ignores runs of unknown jobs and nodes without a declared capacity', () => {
    expect(checkOvercommit([run('n9', 'big-a.0.1', 0, 10), run('n1', 'zzz-a.0.1', 0, 10)], CAP, sizeOf)).toEqual([])
  })

  it('finds negative free resources in a /v1/nodes answer', () => {
    const rows = [{ name: 'n1', resources: { free: { cpu: 0, memoryMb: 0 } } }, { name: 'n2', resources: { free: { cpu: -0.25, memoryMb: 10 } } }, { name: 'n3' }]
    expect(negativeFrees('n1', 42, rows)).toEqual([{ at: 42, observer: 'n1', node: 'n2', cpu: -0.25, memoryMb: 10 }])
  })
})

describe('duplicates', () => {
  it('counts overlapping runs of one instance on different nodes, with the fault that explains them', () => {
    const runs = [
      run('n1', 'j.0.1', 0, 9_000, 'term'), // frozen at 1000, stopped at thaw
      run('n2', 'j.0.2', 4_000, 8_000),
      run('n1', 'k.0.1', 0, 1_000), run('n2', 'k.0.2', 1_000, 2_000), // back to back: not a duplicate
      run('n3', 'u.1.1', 0, 3_000), run('n2', 'u.1.2', 2_000, 4_000), // no fault on either node: unexplained
      run('n2', 's.0.1', 0, 3_000), run('n2', 's.0.2', 2_000, 4_000), // same node
    ]
    const d = findDuplicates(runs, [{ ...fault('stop', 'n1', 1_000) }])
    expect(d.acrossNodes.map((x) => [x.jobId, x.index, x.overlapMs, x.cause])).toEqual([['u', 1, 1_000, 'none'], ['j', 0, 4_000, 'stop']])
    expect(d.acrossNodes[1]!.causeNode).toBe('n1')
    expect(d.sameNode.map((x) => x.jobId)).toEqual(['s'])
  })

  it('different instances of one job are not duplicates', () => {
    expect(findDuplicates([run('n1', 'j.0.1', 0, 10), run('n2', 'j.1.1', 0, 10)], []).acrossNodes).toEqual([])
  })
})

describe('succeeded but never ran', () => {
  const views = (jobs: JobView[], agent = 'n1'): AgentJobsView[] => [{ agent, jobs }]
  const nameOf = (id: string): string | undefined => (id.startsWith('peer-') ? id.slice(5) : undefined)

  it('passes when every succeeded allocation has a start and end on its node', () => {
    const runs = [run('n2', 'j.0.1', 0, 10, 'term'), run('n1', 'j.0.2', 20, 30)]
    expect(checkSucceededRan(views([job('j', 'succeeded', [alloc(0, 1, 'n2', 'lost'), alloc(0, 2, 'n1', 'succeeded')])]), runs, nameOf)).toEqual([])
  })

  it('fails when the history has no run, only a stop, or a run on another node', () => {
    const runs = [run('n1', 'b.0.1', 0, 10, 'term'), run('n2', 'c.0.1', 0, 10)]
    const found = checkSucceededRan(views([
      job('a', 'succeeded', [alloc(0, 1, 'n1', 'succeeded')]),
      job('b', 'succeeded', [alloc(0, 1, 'n1', 'succeeded')]),
      job('c', 'succeeded', [alloc(0, 1, 'n1', 'succeeded')]),
    ]), runs, nameOf)
    expect(found.map((f) => [f.allocId, f.why])).toEqual([
      ['a.0.1', 'reported succeeded on n1, but the history has no start line at all'],
      ['b.0.1', 'reported succeeded on n1, but the history has n1: term'],
      ['c.0.1', 'reported succeeded on n1, but the history has n2: end'],
    ])
  })

  it('fails when a succeeded job has an instance without a succeeded allocation', () => {
    const runs = [run('n1', 'j.0.1', 0, 10)]
    const found = checkSucceededRan(views([job('j', 'succeeded', [alloc(0, 1, 'n1', 'succeeded'), alloc(1, 1, 'n2', 'lost')], 'batch', 2)]), runs, nameOf)
    expect(found).toMatchObject([{ jobId: 'j', allocId: 'j.1.?', why: 'job succeeded but instance 1 has no succeeded allocation' }])
  })

  it('matches a node named only by its peer id, and merges what several agents said', () => {
    const a = { ...alloc(0, 1, 'n1', 'succeeded'), nodeName: 'peer-n1' }
    expect(checkSucceededRan(views([job('j', 'succeeded', [a])]), [run('n1', 'j.0.1', 0, 10)], nameOf)).toEqual([])
    const found = checkSucceededRan([...views([job('x', 'succeeded', [alloc(0, 1, 'n1', 'succeeded')])], 'n1'), ...views([job('x', 'succeeded', [alloc(0, 1, 'n1', 'succeeded')])], 'n2')], [], nameOf)
    expect(found).toHaveLength(1)
    expect(found[0]!.reportedBy).toEqual(['n1', 'n2'])
  })
})

describe('lost', () => {
  it('an acked job missing on every agent that answered is lost; one agent having it is enough', () => {
    const v: AgentJobsView[] = [{ agent: 'n1', jobs: [job('a', 'succeeded', [])] }, { agent: 'n2', jobs: [] }, { agent: 'n3', jobs: null }]
    const { lost, disagreements } = checkLost([{ id: 'a', type: 'batch' }, { id: 'b', type: 'batch' }], v)
    expect(lost).toEqual([{ id: 'b', type: 'batch', why: 'not found on any live agent', states: { n1: 'missing', n2: 'missing', n3: 'no answer' } }])
    expect(disagreements).toEqual([{ id: 'a', states: { n1: 'succeeded', n2: 'missing', n3: 'no answer' } }])
  })

  it('a batch job that is not terminal anywhere by the deadline is lost; a running service is not', () => {
    const v: AgentJobsView[] = [{ agent: 'n1', jobs: [job('a', 'running', []), job('s', 'running', [], 'service'), job('f', 'failed', [])] }]
    const { lost } = checkLost([{ id: 'a', type: 'batch' }, { id: 's', type: 'service' }, { id: 'f', type: 'batch' }], v)
    expect(lost.map((l) => [l.id, l.why])).toEqual([['a', 'never terminal by the settle deadline']])
  })

  it('says so when no agent answered at all', () => {
    expect(checkLost([{ id: 'a', type: 'batch' }], [{ agent: 'n1', jobs: null }]).lost[0]!.why).toBe('no agent answered')
  })
})

describe('recovery after a fault', () => {
  it('times the last affected instance running again elsewhere or ending', () => {
    const runs = [
      run('n1', 'a.0.1', 0, 20_000, 'reaped'), run('n2', 'a.0.2', 3_000, 6_000), // replaced 2000 ms after the kill
      run('n1', 'b.0.1', 500, 20_000, 'reaped'), // ended for the cluster at 4500 (final view)
      run('n1', 'c.0.1', 0, 900), // ended before the fault: not affected
    ]
    const jobs = new Map([['b', job('b', 'succeeded', [alloc(0, 1, 'n1', 'lost', 2_600), alloc(0, 2, 'n3', 'succeeded', 4_500)])]])
    const [r] = recoveryTimes([fault('kill', 'n1', 1_000)], runs, jobs)
    expect(r).toMatchObject({ affected: 2, recoveredMs: 3_500, unrecovered: [] })
  })

  it('on the same node, only a run after the node came back counts', () => {
    const runs = [run('n1', 'a.0.1', 0, 20_000, 'reaped'), run('n1', 'a.0.2', 7_000, 8_000)]
    expect(recoveryTimes([fault('kill', 'n1', 1_000, 2_000, 6_000)], runs, new Map())[0]).toMatchObject({ recoveredMs: 6_000 })
    expect(recoveryTimes([fault('kill', 'n1', 1_000, 2_000, 7_500)], runs, new Map())[0]).toMatchObject({ recoveredMs: null, unrecovered: ['a/0'] })
  })

  it('has no figure for a freeze nobody noticed, or a node that ran nothing', () => {
    const runs = [run('n1', 'a.0.1', 0, 5_000)]
    expect(recoveryTimes([fault('stop', 'n1', 1_000, null)], runs, new Map())[0]!.note).toMatch(/never seen dead/)
    expect(recoveryTimes([fault('kill', 'n2', 1_000)], runs, new Map())[0]).toMatchObject({ affected: 0, recoveredMs: null, note: 'no process was running there' })
  })
})

describe('a success taken back', () => {
  const ev = (at: number, agent: string, job: string, state: string, more: Partial<JobEvent> = {}): JobEvent => ({ at, agent, job, state, ...more })

  it('passes when succeeded stays succeeded and nothing starts afterwards', () => {
    const events = [ev(100, 'n1', 'j', 'running'), ev(900, 'n1', 'j', 'succeeded'), ev(950, 'n2', 'j', 'succeeded')]
    expect(checkSuccessKept(events, [run('n1', 'j.0.1', 0, 800), run('n2', 'j.0.2', 300, 900)], new Set(['j']))).toEqual([])
  })

  it('fails when an agent reports succeeded and later running or pending again', () => {
    const events = [
      ev(900, 'n1', 'j', 'succeeded'),
      ev(2_000, 'n1', 'j', 'pending', { index: 0, attempt: 1, allocState: 'lost', node: 'n3', reason: 'node n3 is gone' }),
      ev(950, 'n2', 'j', 'succeeded'), // n2 never went back
    ]
    expect(checkSuccessKept(events, [], new Set(['j']))).toEqual([
      { jobId: 'j', kind: 'regressed', succeededAt: 900, at: 2_000, detail: 'n1 reported it succeeded, then pending (instance 0 attempt 1 lost on n3: node n3 is gone)' },
    ])
  })

  it('fails when a run of the job starts after any agent reported it succeeded', () => {
    const events = [ev(900, 'n2', 'j', 'succeeded')]
    const found = checkSuccessKept(events, [run('n1', 'j.0.1', 0, 800), run('n4', 'j.0.2', 5_000, 6_000)], new Set(['j']))
    expect(found).toEqual([{ jobId: 'j', kind: 'ran again', succeededAt: 900, at: 5_000, detail: 'j.0.2 started on n4 4100 ms after n2 reported the job succeeded' }])
  })

  it('ignores services and jobs it was not told are batch', () => {
    const events = [ev(900, 'n1', 's', 'succeeded'), ev(1_000, 'n1', 's', 'running')]
    expect(checkSuccessKept(events, [run('n1', 's.0.2', 5_000, 6_000)], new Set())).toEqual([])
  })
})
