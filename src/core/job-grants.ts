// Grants: a claim is on disk on every live storing node before its run starts.
//
// The arbiter claims an instance attempt for a node (arbiter.ts) and records it here. Its start
// waits until every other live storing node of the job, the runner aside, has acknowledged a
// message that carried the claim (the store of a new job, or a delta): so whichever storing node
// takes over when the arbiter dies knows every claim, and never places the same attempt twice.
// A send that fails is tried again every retryMs while that node is a storing node; when the live
// set changes, the storing nodes it needs change with it. Nothing starts on a failed replication.
//
// The start then goes to the runner with the job's record (it may lack it, or lack the claim):
// `store-job` with the start when the runner is a storing node (its copy is one of the job's
// copies), else `start`. The runner starts it only if its own books have room (runner.ts). A
// claim whose start was not acknowledged is sent again after claimResendMs; one we did not grant
// (we took over from a dead arbiter) is granted again: its claim re-sent to the storing nodes,
// then its start. A run is never started twice: the runner answers a start of a run it has, or
// had, with ok.
import type { JobBook } from './job-book.js'
import { allocKey } from './job-merge.js'
import { allocationId } from './job-status.js'
import type { Allocation, JobRecord } from './job-types.js'
import type { AllocRef, Effect, Millis, NodeId } from './types.js'

/**
 * The claims among `sent` that this storing node cannot grant: it already holds that (index,
 * attempt) for another node (`held`: its copy before the message is merged). Two arbiters that
 * each believe they decide the job (one that thawed after the other took over from it, stale)
 * can name the same attempt for two nodes; the merge then keeps one version, and the other's run
 * would share its name, so neither fencing by (index, attempt) nor `duplicates` could tell them
 * apart. A storing node grants the first claim of an attempt it sees and refuses any other (the
 * answer's `conflicts`), and `tell` hands the version it holds to the claim's arbiter, whose merge
 * then settles the grant. Only the answer depends on the order of arrival; the merge does not.
 */
export function claimConflicts(held: JobRecord | undefined, sent: Iterable<Allocation>, tell: (a: Allocation) => void): string[] {
  const conflicts: string[] = []
  if (held === undefined) return conflicts
  for (const a of sent) {
    if (a.state !== 'claimed') continue
    const cur = held.allocations[allocKey(a.index, a.attempt)]
    if (cur === undefined || cur.nodeId === a.nodeId) continue
    conflicts.push(allocationId(held.id, a.index, a.attempt))
    tell(cur)
  }
  return conflicts
}

interface Grant {
  ref: AllocRef
  runner: NodeId
  /** Storing nodes that acknowledged a message carrying the claim. */
  acked: Set<NodeId>
  /** Storing nodes a message carrying the claim is on its way to. */
  sending: Set<NodeId>
  /** A failed send is tried again at this time. */
  retryAt: Millis
  /** When the start went out, or null before. */
  startSentAt: Millis | null
  /** The runner answered the start. */
  startAcked: boolean
}

/** Whether a claim's start is under way here, as reconcile asks it (reconcile.ts). */
export type StartState = 'granting' | 'sent' | 'acked' | 'unknown'

export class Grants {
  private readonly grants = new Map<string, Grant>()
  /** Claims we did not grant (we took over): when we first saw them. */
  private readonly seenSince = new Map<string, Millis>()
  private wake: Millis | null = null

  constructor(
    private readonly book: JobBook,
    /** Start a run of ours (the runner is this node). */
    private readonly startHere: (ref: AllocRef, now: Millis, out: Effect[]) => void,
  ) {}

  /** A claim we just authored: its start waits for the storing nodes. */
  open(ref: AllocRef, runner: NodeId, now: Millis): void {
    const id = allocationId(ref.id, ref.index, ref.attempt)
    this.seenSince.delete(id)
    this.grants.set(id, { ref, runner, acked: new Set(), sending: new Set(), retryAt: now, startSentAt: null, startAcked: false })
    this.wake = null
  }

  /**
   * Take a claim over (a start that was lost, or a claim another arbiter made): its start is
   * granted again once it has waited claimResendMs, in case the start is merely on its way.
   */
  takeOver(ref: AllocRef, runner: NodeId, now: Millis): void {
    const id = allocationId(ref.id, ref.index, ref.attempt)
    const g = this.grants.get(id)
    if (g !== undefined) {
      if (g.startSentAt !== null && !g.startAcked && now - g.startSentAt >= this.book.config.claimResendMs) this.resendStart(g, now)
      return
    }
    const since = this.seenSince.get(id)
    if (since === undefined) { this.seenSince.set(id, now); this.wake = null; return }
    if (now - since < this.book.config.claimResendMs) return
    this.open(ref, runner, now)
  }

  /** How far the start of a claim got here. */
  state(allocId: string): StartState {
    const g = this.grants.get(allocId)
    if (g === undefined) return 'unknown'
    return g.startAcked ? 'acked' : g.startSentAt !== null ? 'sent' : 'granting'
  }

  /**
   * A storing node that runs a claim of this job will get the job with its start (one message
   * instead of two): the new job's store to it waits for that. Only when no other claim's grant
   * needs that node's copy first, or nothing could start.
   */
  defers(jobId: string, node: NodeId): boolean {
    let runs = false
    for (const g of this.grants.values()) {
      if (g.ref.id !== jobId) continue
      if (g.runner === node) runs = true
      else return false
    }
    return runs
  }

  /** A message carrying these claims is on its way to `node` (a new job's store). */
  sending(node: NodeId, allocIds: readonly string[]): void {
    for (const id of allocIds) this.grants.get(id)?.sending.add(node)
  }

  /** The claims of `jobId` we grant now (what a new job's store carries). */
  claimsOf(jobId: string): string[] {
    const ids: string[] = []
    for (const [id, g] of this.grants) if (g.ref.id === jobId && g.startSentAt === null) ids.push(id)
    return ids
  }

  /** `node` answered a message that carried the claim: on its disk (ok) or not. */
  answered(allocId: string, node: NodeId, ok: boolean, now: Millis): void {
    const g = this.grants.get(allocId)
    if (g === undefined) return
    g.sending.delete(node)
    if (ok) g.acked.add(node)
    else g.retryAt = now + this.book.config.grantRetryMs
    this.wake = null
  }

  /** The runner answered the start (ok: it runs, ran, or refused and said so). */
  startAnswered(allocId: string, ok: boolean): void {
    const g = this.grants.get(allocId)
    if (g === undefined) return
    if (ok) g.startAcked = true
    this.wake = null
  }

  /** A claim's run began or ended (or the job went): nothing left to grant. */
  settle(r: JobRecord): void {
    for (const [id, g] of this.grants) {
      if (g.ref.id !== r.id) continue
      const a = r.allocations[allocKey(g.ref.index, g.ref.attempt)]
      if (a === undefined || a.state !== 'claimed' || a.nodeId !== g.runner) { this.grants.delete(id); this.wake = null }
    }
    for (const id of this.seenSince.keys()) {
      if (!id.startsWith(`${r.id}.`)) continue
      if (!Object.values(r.allocations).some((a) => a.state === 'claimed' && allocationId(r.id, a.index, a.attempt) === id)) { this.seenSince.delete(id); this.wake = null }
    }
  }

  /** Forget a job's grants (it was collected). */
  drop(jobId: string): void {
    for (const [id, g] of this.grants) if (g.ref.id === jobId) this.grants.delete(id)
    for (const id of this.seenSince.keys()) if (id.startsWith(`${jobId}.`)) this.seenSince.delete(id)
    this.wake = null
  }

  /** Send what each grant still needs; start the ones every storing node now holds. End of every step. */
  flush(now: Millis, out: Effect[]): void {
    // Most steps have no grant open: nothing to send, and wakeAt's cache stays good.
    if (this.grants.size === 0) return
    for (const [id, g] of this.grants) {
      if (g.startSentAt !== null) {
        if (!g.startAcked && now - g.startSentAt >= this.book.config.claimResendMs) this.resendStart(g, now)
        continue
      }
      const r = this.book.get(g.ref.id)
      const claim = r?.allocations[allocKey(g.ref.index, g.ref.attempt)]
      // Gone, begun, ended, or the attempt is another node's (a rival arbiter's claim won it).
      if (r === undefined || claim?.state !== 'claimed' || claim.nodeId !== g.runner) { this.grants.delete(id); continue }
      const self = this.book.members.selfId
      let waiting = false
      for (const n of this.book.replicaSet(g.ref.id)) {
        if (n === self || n === g.runner || g.acked.has(n)) continue
        waiting = true
        if (g.sending.has(n) || now < g.retryAt) continue
        g.sending.add(n)
        this.book.outbox.add(n, { id: r.id, allocs: [claim] }, { kind: 'grant', allocId: id })
      }
      if (!waiting) this.start(g, r, now, out)
    }
    this.wake = null
  }

  /** When flush has something to do that no answer will prompt (a retry, a resend). */
  wakeAt(): Millis {
    if (this.wake !== null) return this.wake
    let at = Infinity
    for (const g of this.grants.values()) {
      if (g.startSentAt !== null) { if (!g.startAcked) at = Math.min(at, g.startSentAt + this.book.config.claimResendMs) }
      else if (g.sending.size === 0) at = Math.min(at, g.retryAt)
    }
    for (const since of this.seenSince.values()) at = Math.min(at, since + this.book.config.claimResendMs)
    this.wake = at
    return at
  }

  /** Entries kept (tests: none once every claim started or ended). */
  held(): number {
    return this.grants.size + this.seenSince.size
  }

  private start(g: Grant, r: JobRecord, now: Millis, out: Effect[]): void {
    g.startSentAt = now
    const id = allocationId(g.ref.id, g.ref.index, g.ref.attempt)
    if (g.runner === this.book.members.selfId) {
      g.startAcked = true
      this.startHere(g.ref, now, out)
      // Our own books count it now (or it was refused): the claim no longer counts apart.
      this.book.capacity.settle(g.runner, id)
      return
    }
    const msg = this.book.replicaSet(r.id).includes(g.runner)
      ? { type: 'store-job' as const, job: r, start: [g.ref] }
      : { type: 'start' as const, job: r, index: g.ref.index, attempt: g.ref.attempt }
    this.book.send(out, g.runner, msg, this.book.config.storeTimeoutMs, { purpose: 'start', allocId: id, jobId: r.id, node: g.runner })
  }

  private resendStart(g: Grant, now: Millis): void {
    // Granted again from the start: the storing nodes may have changed since.
    g.startSentAt = null
    g.startAcked = false
    g.acked.clear()
    g.sending.clear()
    g.retryAt = now
    this.wake = null
  }
}
