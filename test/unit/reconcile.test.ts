// reconcile (src/core/reconcile.ts) case by case: a job record and the arbiter's view in, the
// actions out. Pure: no clock, no network; each case names the rule it pins down.
import { describe, expect, it } from 'vitest'
import type { Allocation, DisconnectPolicy, JobRecord, JobSpec } from '../../src/core/job-types.js'
import { DISCONNECTED_LOST_AFTER_MS } from '../../src/core/partition-policy.js'
import { REASSERT_WAIT_MS, UNKNOWN_LOST_AFTER_MS, reconcile, type ReconcileView } from '../../src/core/reconcile.js'

const NOW = 1_000_000
const SELF = 'arbiter'

function spec(over: Partial<JobSpec> = {}): JobSpec {
  return {
    name: 'svc', command: ['sleep', '100'], env: {}, resources: { cpu: 0.5, memoryMb: 64 }, count: 1, type: 'service',
    constraints: [], restart: { attempts: 0, backoffMs: 1000 }, timeoutMs: 0, ...over,
  }
}

function alloc(index: number, attempt: number, nodeId: string, state: Allocation['state'], over: Partial<Allocation> = {}): Allocation {
  return {
    index, attempt, nodeId, nodeName: nodeId, state, exitCode: null,
    startedAt: state === 'claimed' ? null : NOW - 10_000, finishedAt: state === 'running' || state === 'claimed' ? null : NOW - 1_000, ...over,
  }
}

function record(allocs: Allocation[], over: Partial<JobSpec> = {}): JobRecord {
  return {
    id: 'j', spec: spec(over), submittedAt: NOW - 60_000, cancelled: false, pendingReason: '', reasonVersion: 0,
    allocations: Object.fromEntries(allocs.map((a) => [`${a.index}/${a.attempt}`, a])),
  }
}

interface ViewOpts {
  /** Node -> when it counts as gone (absent: live). */
  gone?: Record<string, number>
  /** Open runs we did not know while their node was in sight. */
  unknown?: string[]
  noted?: Record<string, number>
  draining?: string[]
  started?: string[]
  now?: number
}

function view(o: ViewOpts = {}): ReconcileView {
  return {
    now: o.now ?? NOW,
    self: SELF,
    goneAt: (n) => o.gone?.[n] ?? Infinity,
    goneWhy: () => 'dead',
    known: (id) => !(o.unknown ?? []).includes(id),
    notedAt: (id) => o.noted?.[id],
    draining: (n) => (o.draining ?? []).includes(n),
    startState: (id) => ((o.started ?? []).includes(id) ? 'acked' : 'unknown'),
    retryAt: () => 0,
  }
}

const kinds = (r: JobRecord, v: ReconcileView): string[] => reconcile(r, v).actions.map((a) => a.kind)

describe('reconcile', () => {
  it('places every instance of a new job, each avoiding nothing yet', () => {
    const { actions, wakeAt } = reconcile(record([], { count: 2 }), view())
    expect(actions).toEqual([
      { kind: 'place', index: 0, attempt: 1, avoid: [] },
      { kind: 'place', index: 1, attempt: 1, avoid: [] },
    ])
    expect(wakeAt).toBe(-Infinity)
  })

  it('leaves a running instance alone and sleeps until news', () => {
    expect(reconcile(record([alloc(0, 1, 'a', 'running')]), view())).toEqual({ actions: [], wakeAt: Infinity })
  })

  it('places the next instance away from the nodes holding the others', () => {
    const { actions } = reconcile(record([alloc(0, 1, 'a', 'running')], { count: 2 }), view())
    expect(actions).toEqual([{ kind: 'place', index: 1, attempt: 1, avoid: ['a'] }])
  })

  it('re-sends the start of a claim nobody here knows is under way, and not one that is', () => {
    const r = record([alloc(0, 1, 'a', 'claimed')])
    expect(kinds(r, view())).toEqual(['resend-start'])
    expect(kinds(r, view({ started: ['j.0.1'] }))).toEqual([])
  })

  it('marks a run on a dead node lost and places the next attempt elsewhere', () => {
    const { actions } = reconcile(record([alloc(0, 1, 'a', 'running')]), view({ gone: { a: NOW - 1 } }))
    expect(actions.map((a) => a.kind)).toEqual(['mark-lost', 'place'])
    expect(actions[1]).toEqual({ kind: 'place', index: 0, attempt: 2, avoid: [] })
  })

  it('waits for a death another node declared until its grace is over (goneAt in the future)', () => {
    const at = NOW + 300
    const { actions, wakeAt } = reconcile(record([alloc(0, 1, 'a', 'running')]), view({ gone: { a: at } }))
    expect(actions).toEqual([])
    expect(wakeAt).toBe(at)
  })

  it('with replace: false, leaves a run nobody can see alone for DISCONNECTED_LOST_AFTER_MS', () => {
    const disconnect: DisconnectPolicy = { replace: false, reconcile: 'longest_running', stopAfterMs: null }
    const r = record([alloc(0, 1, 'a', 'running')], { disconnect })
    const gone = NOW - 1_000
    const early = reconcile(r, view({ gone: { a: gone } }))
    expect(early.actions).toEqual([])
    expect(early.wakeAt).toBe(gone + DISCONNECTED_LOST_AFTER_MS)
    expect(kinds(r, view({ gone: { a: gone }, now: gone + DISCONNECTED_LOST_AFTER_MS }))).toEqual(['mark-lost', 'place'])
  })

  describe('a run first heard of on a node already gone (the other side of a partition)', () => {
    const r = record([alloc(0, 2, 'b', 'running')])
    const gone = { b: NOW - 5_000 }

    it('is noted and left open, waking when UNKNOWN_LOST_AFTER_MS is over', () => {
      const { actions, wakeAt } = reconcile(r, view({ gone, unknown: ['j.0.2'] }))
      expect(actions).toEqual([{ kind: 'note', alloc: r.allocations['0/2'], ask: false }])
      expect(wakeAt).toBe(NOW + UNKNOWN_LOST_AFTER_MS)
    })

    it('is taken for lost once noted that long ago', () => {
      const noted = { 'j.0.2': NOW - UNKNOWN_LOST_AFTER_MS }
      expect(kinds(r, view({ gone, unknown: ['j.0.2'], noted }))).toEqual(['mark-lost', 'place'])
    })
  })

  describe('a last run another node took for lost', () => {
    const lost = alloc(0, 1, 'a', 'lost', { lostBy: 'other' })
    const r = record([lost])

    it('on a node we see: asks it, and waits REASSERT_WAIT_MS before placing', () => {
      const { actions, wakeAt } = reconcile(r, view())
      expect(actions).toEqual([{ kind: 'note', alloc: lost, ask: true }])
      expect(wakeAt).toBe(NOW + REASSERT_WAIT_MS)
      expect(kinds(r, view({ noted: { 'j.0.1': NOW - REASSERT_WAIT_MS } }))).toEqual(['place'])
    })

    it('on a node whose death another node declared a moment ago: waits the same', () => {
      // The healed side's verdict about a member we are about to hear refute it.
      expect(kinds(r, view({ gone: { a: NOW + 300 } }))).toEqual(['note'])
    })

    it('on a node gone for us too: places at once', () => {
      expect(kinds(r, view({ gone: { a: NOW - 1 } }))).toEqual(['place'])
    })

    it('taken for lost by its own node: places at once', () => {
      expect(kinds(record([{ ...lost, lostBy: 'a' }]), view())).toEqual(['place'])
    })

    it('taken for lost by us, on a node we see again: asks it too (we may have been the one cut off)', () => {
      // A host cut off takes the others' runs for lost; at the heal, a duplicate it stops frees
      // room before the others' re-assertions reach it, and it placed those instances again.
      const mine = { ...lost, lostBy: SELF }
      expect(kinds(record([mine]), view())).toEqual(['note'])
      expect(kinds(record([mine]), view({ noted: { 'j.0.1': NOW - REASSERT_WAIT_MS } }))).toEqual(['place'])
      expect(kinds(record([mine]), view({ gone: { a: NOW - 1 } }))).toEqual(['place'])
    })
  })

  it('while a drain moves an instance, stops the old run once its replacement runs', () => {
    const old = alloc(0, 1, 'a', 'running')
    const moving = reconcile(record([old]), view({ draining: ['a'] }))
    expect(moving.actions).toEqual([{ kind: 'place', index: 0, attempt: 2, avoid: [], replaces: old }])
    const by = alloc(0, 2, 'b', 'running', { replaces: 1 })
    expect(reconcile(record([old, by]), view({ draining: ['a'] })).actions).toEqual([{ kind: 'stop-moved', old, by }])
  })

  it('does not re-place an instance whose two runs met at a heal: their runners settle it', () => {
    const r = record([alloc(0, 1, 'a', 'running'), alloc(0, 2, 'b', 'running')])
    const { actions, wakeAt } = reconcile(r, view())
    expect(actions).toEqual([])
    expect(wakeAt).toBe(-Infinity)
  })

  it('waits out the restart backoff of a failed service run', () => {
    const failed = alloc(0, 1, 'a', 'failed', { exitCode: 1, finishedAt: NOW - 200 })
    const { actions, wakeAt } = reconcile(record([failed], { restart: { attempts: 3, backoffMs: 1000 } }), view())
    expect(actions).toEqual([])
    expect(wakeAt).toBe(NOW + 800)
  })

  it('closes the claims of a cancelled job and marks its runs on gone nodes lost', () => {
    const r = { ...record([alloc(0, 1, 'a', 'claimed'), alloc(1, 1, 'b', 'running')], { count: 2 }), cancelled: true }
    expect(kinds(r, view({ gone: { b: NOW - 1 } }))).toEqual(['close-claim', 'mark-lost'])
  })
})
