// The job record merge is a join: replicas, gossip and the state exchange deliver copies in any
// order, any number of times, and every node must end with the same record.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { jobDigest, mergeJob } from '../../src/core/job-merge.js'
import type { Allocation, DuplicateRun, JobRecord } from '../../src/core/job-types.js'
import { simSpec } from '../../src/sim/sim-cluster.js'

const nodes = ['n1', 'n2', 'n3']
const alloc: fc.Arbitrary<Allocation> = fc.record({
  index: fc.integer({ min: 0, max: 1 }),
  attempt: fc.integer({ min: 1, max: 3 }),
  nodeId: fc.constantFrom(...nodes),
  state: fc.constantFrom('claimed', 'running', 'succeeded', 'failed', 'lost', 'cancelled' as const),
  exitCode: fc.option(fc.integer({ min: 0, max: 2 }), { nil: null }),
  startedAt: fc.option(fc.integer({ min: 0, max: 10 }), { nil: null }),
  finishedAt: fc.option(fc.integer({ min: 0, max: 10 }), { nil: null }),
  reason: fc.option(fc.constantFrom('a', 'b'), { nil: undefined }),
  replaces: fc.option(fc.integer({ min: 1, max: 2 }), { nil: undefined }),
  epoch: fc.option(fc.integer({ min: 1, max: 2 }), { nil: undefined }),
  lostBy: fc.option(fc.constantFrom(...nodes), { nil: undefined }),
}).map((a) => {
  const out: Allocation = { ...a, nodeName: a.nodeId }
  if (out.reason === undefined) delete out.reason
  if (out.lostBy === undefined) delete out.lostBy
  if (out.replaces === undefined) delete out.replaces
  if (out.epoch === undefined) delete out.epoch
  return out
})
const dup: fc.Arbitrary<DuplicateRun> = fc.record({
  index: fc.integer({ min: 0, max: 1 }), attempt: fc.integer({ min: 1, max: 2 }), nodeId: fc.constantFrom(...nodes), stoppedAt: fc.integer({ min: 0, max: 5 }),
}).map((d) => ({ ...d, nodeName: d.nodeId }))

const record: fc.Arbitrary<JobRecord> = fc.record({
  submittedAt: fc.integer({ min: 0, max: 3 }),
  cancelled: fc.boolean(),
  allocs: fc.array(alloc, { maxLength: 5 }),
  pendingReason: fc.constantFrom('', 'no room', 'draining'),
  reasonVersion: fc.integer({ min: 0, max: 3 }),
  dups: fc.option(fc.array(dup, { maxLength: 3 }), { nil: undefined }),
  count: fc.constantFrom(1, 2),
}).map((r) => {
  const rec: JobRecord = {
    id: 'j', spec: simSpec({ count: r.count }), submittedAt: r.submittedAt, cancelled: r.cancelled,
    allocations: Object.fromEntries(r.allocs.map((a) => [`${a.index}/${a.attempt}`, a])),
    pendingReason: r.pendingReason, reasonVersion: r.reasonVersion,
  }
  if (r.dups !== undefined) rec.duplicates = Object.fromEntries(r.dups.map((d) => [`${d.index}/${d.attempt}@${d.nodeId}`, d]))
  return rec
})

const same = (a: JobRecord, b: JobRecord): void => { expect(jobDigest(a)).toBe(jobDigest(b)) }

describe('mergeJob', () => {
  it('is idempotent', () => {
    fc.assert(fc.property(record, (a) => same(mergeJob(a, a), mergeJob(mergeJob(a, a), a))))
  })
  it('is commutative', () => {
    fc.assert(fc.property(record, record, (a, b) => same(mergeJob(a, b), mergeJob(b, a))))
  })
  it('is associative', () => {
    fc.assert(fc.property(record, record, record, (a, b, c) => same(mergeJob(mergeJob(a, b), c), mergeJob(a, mergeJob(b, c)))))
  })
  it('absorbs: merging in an older copy changes nothing', () => {
    fc.assert(fc.property(record, record, (a, b) => {
      const m = mergeJob(a, b)
      same(mergeJob(m, a), m)
      same(mergeJob(m, b), m)
    }))
  })
  it('keeps its own record object when a copy adds nothing, and only then', () => {
    // mergeJob returns a record it built unchanged when the other copy adds nothing: the answer
    // must be what the full merge gives a fresh copy of that record (which takes no shortcut).
    fc.assert(fc.property(record, record, record, (a, b, c) => {
      const m = mergeJob(a, b)
      const fresh = JSON.parse(JSON.stringify(m)) as JobRecord
      same(mergeJob(m, c), mergeJob(fresh, c))
      same(mergeJob(m, a), mergeJob(fresh, a))
      if (m.duplicates === undefined) expect(mergeJob(m, fresh)).toBe(m)
    }), { numRuns: 500 })
  })
  it('keeps a copy laid out as it builds records, and lays out any other anew', () => {
    // Whether a record can be kept is read off the record (its field and key order), so a copy
    // from the wire or the disk in that layout is kept too; any other layout is rebuilt in order.
    fc.assert(fc.property(record, record, (a, b) => {
      const m = mergeJob(a, b)
      const fresh = JSON.parse(JSON.stringify(m)) as JobRecord
      if (m.duplicates === undefined) expect(mergeJob(fresh, fresh)).toBe(fresh)
      const { allocations, ...rest } = m
      const reordered = { allocations, ...rest } as JobRecord // allocations first
      const rebuilt = mergeJob(reordered, m)
      expect(rebuilt).not.toBe(reordered)
      expect(JSON.stringify(rebuilt)).toBe(JSON.stringify(m))
    }), { numRuns: 300 })
  })
  it('never loses a duplicate entry or a cancel', () => {
    fc.assert(fc.property(record, record, (a, b) => {
      const m = mergeJob(a, b)
      for (const k of [...Object.keys(a.duplicates ?? {}), ...Object.keys(b.duplicates ?? {})]) expect(m.duplicates?.[k]).toBeDefined()
      expect(m.cancelled).toBe(a.cancelled || b.cancelled)
    }))
  })
  it('keeps what a run reported over a lost guess: a success is never taken back', () => {
    const base: JobRecord = { id: 'j', spec: simSpec(), submittedAt: 0, cancelled: false, allocations: {}, pendingReason: '', reasonVersion: 0 }
    const run: Allocation = { index: 0, attempt: 1, nodeId: 'n1', nodeName: 'n1', state: 'running', exitCode: null, startedAt: 1, finishedAt: null }
    const lost = { ...base, allocations: { '0/1': { ...run, state: 'lost' as const, finishedAt: 5, reason: 'node n1 is dead' } } }
    const done = { ...base, allocations: { '0/1': { ...run, state: 'succeeded' as const, exitCode: 0, finishedAt: 4 } } }
    expect(mergeJob(lost, done).allocations['0/1']?.state).toBe('succeeded')
    expect(mergeJob(done, lost).allocations['0/1']?.state).toBe('succeeded')
    // ...while a run still running is superseded by the lost verdict...
    expect(mergeJob({ ...base, allocations: { '0/1': run } }, lost).allocations['0/1']?.state).toBe('lost')
    // ...until its own node re-asserts it (a higher epoch: it ran through a partition).
    const back = { ...base, allocations: { '0/1': { ...run, epoch: 1 } } }
    expect(mergeJob(lost, back).allocations['0/1']).toMatchObject({ state: 'running', epoch: 1 })
    expect(mergeJob(back, lost).allocations['0/1']).toMatchObject({ state: 'running', epoch: 1 })
    // A later verdict at that epoch wins again, and a real end wins over every epoch.
    const lostAgain = { ...base, allocations: { '0/1': { ...run, state: 'lost' as const, epoch: 1, finishedAt: 9 } } }
    expect(mergeJob(back, lostAgain).allocations['0/1']?.state).toBe('lost')
    expect(mergeJob(back, done).allocations['0/1']?.state).toBe('succeeded')
  })
  it('of two losses of one run, keeps its own node\'s account over another node\'s guess', () => {
    const base: JobRecord = { id: 'j', spec: simSpec(), submittedAt: 0, cancelled: false, allocations: {}, pendingReason: '', reasonVersion: 0 }
    const run: Allocation = { index: 0, attempt: 1, nodeId: 'n3', nodeName: 'n3', state: 'running', exitCode: null, startedAt: 1, finishedAt: null }
    // The majority took n3 for dead before it heard that the run started (startedAt null: as JSON
    // text, that copy sorts after any start time, so it won the tie before).
    const guess = { ...base, allocations: { '0/1': { ...run, startedAt: null, state: 'lost' as const, finishedAt: 3, reason: 'node n3 is dead', lostBy: 'n2' } } }
    const own = { ...base, allocations: { '0/1': { ...run, state: 'lost' as const, finishedAt: 6, reason: 'stopped by its node n3: cut off (disconnect.stopAfterMs)', lostBy: 'n3' } } }
    expect(mergeJob(guess, own).allocations['0/1']).toEqual(own.allocations['0/1'])
    expect(mergeJob(own, guess).allocations['0/1']).toEqual(own.allocations['0/1'])
  })
})
