// What a job needs now, as a pure function of its record and the arbiter's view: the shape of
// Nomad's scheduler/reconcile.go. It names actions; the arbiter (arbiter.ts) carries them out and
// placement (src/placement) picks the node for each `place`. No clock, no messages, no state:
// the same job and view always give the same actions, which the table tests in
// test/unit/reconcile.test.ts pin down case by case.
import { batchInstanceDone, failedRuns, isTerminalAlloc, jobState, latestAllocations, maxAttempts } from './job-merge.js'
import { disconnectOf, type Allocation, type JobRecord } from './job-types.js'
import { DISCONNECTED_LOST_AFTER_MS } from './partition-policy.js'
import type { Millis, NodeId } from './types.js'
import type { StartState } from './job-grants.js'

/** What reconcile needs to know beyond the record. */
export interface ReconcileView {
  now: Millis
  /**
   * When the node of a run counts as gone: Infinity while it is live, a time (maybe still to
   * come) once it is not. A death another node declared counts a moment later than one we
   * declared ourselves: a healed partition brings the other side's verdicts about members we
   * see answering, which their refutation undoes within a round trip.
   */
  goneAt(node: NodeId): Millis
  /** Why the node is gone (its state: dead, left, unknown), for the record. */
  goneWhy(node: NodeId): string
  /** This node: the arbiter deciding. */
  self: NodeId
  /**
   * Whether we knew this open run while its node was in sight (or it was open when we first
   * decided the job). A run we first hear of on a node already gone ran on the other side of a
   * partition: its node may be back any moment.
   */
  known(allocId: string): boolean
  /** When we first noted a run (see the `note` action), or undefined. */
  notedAt(allocId: string): Millis | undefined
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
   * Remember when we first saw this run as it is now (notedAt): a run heard of on a gone node,
   * or a run another node took for lost on a node we see (`ask`: tell that node, which then says
   * it still runs it, or lets it go).
   */
  | { kind: 'note'; alloc: Allocation; ask: boolean }
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

/** A run first heard of on a node already gone is taken for lost after this (Nomad's lost_after for a disconnected client). */
export const UNKNOWN_LOST_AFTER_MS = 30_000
/**
 * An instance whose last run another node took for lost, on a node we see, waits this long for
 * that node to say it still runs it before a new attempt is placed: a few round trips.
 */
export const REASSERT_WAIT_MS = 2_000

export function reconcile(r: JobRecord, view: ReconcileView): Reconciled {
  const actions: Action[] = []
  const { now } = view
  const all = Object.values(r.allocations)
  if (r.cancelled) {
    // Claims that never started will not start now (a node refuses a start for a cancelled job):
    // close them. A run that did start is stopped by its node, which records the end.
    for (const a of all) {
      if (a.state === 'claimed') actions.push({ kind: 'close-claim', alloc: a })
      else if (a.state === 'running' && view.goneAt(a.nodeId) <= now) {
        actions.push({ kind: 'mark-lost', alloc: a, reason: `node ${a.nodeName} is ${view.goneWhy(a.nodeId)}` })
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
  for (const a of all) if (!isTerminalAlloc(a.state) && view.goneAt(a.nodeId) === Infinity) holders.add(a.nodeId)
  for (let index = 0; index < r.spec.count; index++) {
    const last = latest.get(index)
    const mine = all.filter((a) => a.index === index)
    // Open runs of this instance: one, or two while a drain moves it (the old one and its
    // replacement), or two after a partition healed (its runners settle which stays).
    const open: Allocation[] = []
    for (const a of mine) {
      if (isTerminalAlloc(a.state)) continue
      const at = view.goneAt(a.nodeId)
      if (at === Infinity) { open.push(a); continue }
      const id = allocId(r, a)
      if (!view.known(id)) {
        // The other side of a partition ran it; its node may be back in a moment.
        const noted = view.notedAt(id)
        if (noted === undefined) actions.push({ kind: 'note', alloc: a, ask: false })
        const until = (noted ?? now) + UNKNOWN_LOST_AFTER_MS
        if (until > now) { open.push(a); wake = Math.min(wake, until); continue }
      }
      // Left alone for a while when the job says not to replace a run nobody can see.
      const until = Math.max(at, disconnectOf(r.spec).replace ? at : at + DISCONNECTED_LOST_AFTER_MS)
      if (until > now) { open.push(a); wake = Math.min(wake, until); continue }
      actions.push({ kind: 'mark-lost', alloc: a, reason: `node ${a.nodeName} is ${view.goneWhy(a.nodeId)}` })
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
    // The last run was taken for lost (by another node, or by us while we were cut off from its
    // node), and we see its node (or learnt of its death from another node a moment ago): it may
    // still run it. Its node re-asserts it, or lets it go, when asked.
    if (last !== undefined && last.state === 'lost' && last.lostBy !== undefined && last.lostBy !== last.nodeId && view.goneAt(last.nodeId) > now) {
      const noted = view.notedAt(allocId(r, last))
      if (noted === undefined) actions.push({ kind: 'note', alloc: last, ask: true })
      const until = (noted ?? now) + REASSERT_WAIT_MS
      if (until > now) { wake = Math.min(wake, until); continue }
    }
    actions.push({ kind: 'place', index, attempt: nextAttempt, avoid: [...holders].filter((n) => n !== last?.nodeId) })
    wake = -Infinity
  }
  return { actions, wakeAt: wake }
}
