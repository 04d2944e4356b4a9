// What a job needs now, as a pure function of its record and the arbiter's view: the shape of
// Nomad's scheduler/reconcile.go. It names actions; the arbiter (arbiter.ts) carries them out and
// placement (src/placement) picks the node for each `place`. No clock, no messages, no state:
// the same job and view always give the same actions, which the table tests in
// test/unit/reconcile.test.ts pin down case by case.
import { batchInstanceDone, failedRuns, isTerminalAlloc, jobState, latestAllocations, maxAttempts } from './job-merge.js'
import type { Allocation, JobRecord } from './job-types.js'
import type { Millis, NodeId } from './types.js'
import type { StartState } from './job-grants.js'

/** What reconcile needs to know beyond the record. */
export interface ReconcileView {
  now: Millis
  /** Why the node of a run is gone (its state: dead, left, unknown), or null while it is live. */
  gone(node: NodeId): string | null
  /** Is the node draining (no new work; its services move)? */
  draining(node: NodeId): boolean
  /** How far the start of a claim got on this node (job-grants.ts). */
  startState(allocId: string): StartState
  /** Until when placing an instance waits after it found no room (0: it may be placed now). */
  retryAt(instanceKey: string): Millis
}

export type Action =
  /** A run on a node that is gone: it is lost (a new attempt is placed; lost runs do not use up restarts). */
  | { kind: 'mark-lost'; alloc: Allocation; reason: string }
  /** A claim of a cancelled job that never started: it never will. */
  | { kind: 'close-claim'; alloc: Allocation }
  /** A claim whose start is not known to be under way here (lost, or we took over from a dead arbiter). */
  | { kind: 'resend-start'; alloc: Allocation }
  /** A drain move is done (its replacement runs): the old copy stops. */
  | { kind: 'stop-moved'; old: Allocation; by: Allocation }
  /**
   * Place an attempt of an instance. `avoid`: nodes that hold the job's other instances (placed
   * elsewhere unless only they fit). `replaces`: the run it moves off a draining node, which goes
   * on until this one runs (and must not take it).
   */
  | { kind: 'place'; index: number; attempt: number; avoid: NodeId[]; replaces?: Allocation }

export interface Reconciled {
  actions: Action[]
  /** When to look again without news (Infinity: only a change of the record or the members matters). */
  wakeAt: Millis
}

const allocId = (r: JobRecord, a: Allocation): string => `${r.id}.${a.index}.${a.attempt}`

export function reconcile(r: JobRecord, view: ReconcileView): Reconciled {
  const actions: Action[] = []
  const { now } = view
  const all = Object.values(r.allocations)
  if (r.cancelled) {
    // Claims that never started will not start now (a node refuses a start for a cancelled job):
    // close them. A run that did start is stopped by its node, which records the end.
    for (const a of all) {
      if (a.state === 'claimed') actions.push({ kind: 'close-claim', alloc: a })
      else if (a.state === 'running') {
        const gone = view.gone(a.nodeId)
        if (gone !== null) actions.push({ kind: 'mark-lost', alloc: a, reason: `node ${a.nodeName} is ${gone}` })
      }
    }
    return { actions, wakeAt: actions.length > 0 || all.some((a) => !isTerminalAlloc(a.state)) ? -Infinity : Infinity }
  }
  const state = jobState(r)
  if (state === 'succeeded' || state === 'failed') return { actions, wakeAt: Infinity }
  let wake = Infinity
  const latest = latestAllocations(r)
  // Nodes holding an open run of some instance: another instance goes elsewhere if it can.
  const holders = new Set<NodeId>()
  for (const a of all) if (!isTerminalAlloc(a.state) && view.gone(a.nodeId) === null) holders.add(a.nodeId)
  for (let index = 0; index < r.spec.count; index++) {
    const last = latest.get(index)
    const mine = all.filter((a) => a.index === index)
    // Open runs of this instance: one, or two while a drain moves it (the old one and its replacement).
    const open: Allocation[] = []
    for (const a of mine) {
      if (isTerminalAlloc(a.state)) continue
      const gone = view.gone(a.nodeId)
      if (gone !== null) actions.push({ kind: 'mark-lost', alloc: a, reason: `node ${a.nodeName} is ${gone}` })
      else open.push(a)
    }
    open.sort((a, b) => b.attempt - a.attempt)
    const nextAttempt = Math.max(0, ...mine.map((a) => a.attempt)) + 1
    const current = open[0]
    if (current !== undefined) {
      const draining = view.draining(current.nodeId)
      if (current.state !== 'running' || open.length > 1 || draining) wake = -Infinity
      if (current.state === 'claimed') {
        const start = view.startState(allocId(r, current))
        if (start === 'unknown') actions.push({ kind: 'resend-start', alloc: current })
      }
      const old = current.replaces === undefined ? undefined : open.find((a) => a.attempt === current.replaces)
      if (current.state === 'running' && old !== undefined) actions.push({ kind: 'stop-moved', old, by: current })
      if (current.state === 'running' && r.spec.type === 'service' && draining && open.length === 1) {
        const key = `${r.id}/${index}`
        if (view.retryAt(key) <= now) {
          actions.push({ kind: 'place', index, attempt: nextAttempt, avoid: [...holders].filter((n) => n !== current.nodeId), replaces: current })
        }
      }
      continue
    }
    if (batchInstanceDone(r, index)) continue
    if (r.spec.type === 'batch' && failedRuns(r, index) >= maxAttempts(r)) continue
    const backoffEnd = last !== undefined && (last.state === 'failed' || last.state === 'succeeded') ? (last.finishedAt ?? 0) + r.spec.restart.backoffMs : -Infinity
    if (now < backoffEnd) { wake = Math.min(wake, backoffEnd); continue }
    const retryAt = view.retryAt(`${r.id}/${index}`)
    if (retryAt > now) { wake = Math.min(wake, retryAt); continue }
    actions.push({ kind: 'place', index, attempt: nextAttempt, avoid: [...holders].filter((n) => n !== last?.nodeId) })
    wake = -Infinity
  }
  return { actions, wakeAt: wake }
}
