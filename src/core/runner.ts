// The node that runs instances: it reserves room for an offer only if its own true free capacity
// admits the job, starts a run when the arbiter's grant arrives, reports each run's end, and stops
// any copy that the merged record says is not (or no longer) its own: fencing by (index, attempt).
import { admits } from '../placement/index.js'
import { allocKey, batchInstanceDone, duplicateKey, jobState, latestAllocations } from './job-merge.js'
import type { JobBook } from './job-book.js'
import { allocationId } from './job-status.js'
import type { Allocation, AllocState, DuplicateRun, JobRecord, ProcessExit } from './job-types.js'
import type { Effect, Millis, NodeId, Resources, RpcResponse } from './types.js'

interface LocalAlloc {
  jobId: string
  index: number
  attempt: number
  resources: Resources
  state: 'reserved' | 'running'
  since: Millis
  /** Why we asked the process to stop, so its exit is recorded right. */
  stopping?: 'cancel' | 'fenced' | 'moved' | 'drain'
}

/**
 * A run's end not yet on another storing node: sent again at `retryAt` until one acknowledges it.
 * Kept after the first acknowledgement (`taken`) until every storing node sent it has answered,
 * so that one that failed to take it is sent it once more.
 */
interface EndReport {
  jobId: string
  alloc: Allocation
  retryAt: Millis | null
  taken: boolean
  /** Answers still to come. */
  waiting: number
}

/** An end report no storing node acknowledged is sent again after this. */
const END_RETRY_MS = 1_000

export class Runner {
  private readonly local = new Map<string, LocalAlloc>()
  private readonly ends = new Map<string, EndReport>()
  private capacityDirty = true
  /** When the ends and reservations next need a tick (wakeAt without the drain deadline); null: to compute. */
  private wakeCache: Millis | null = null

  constructor(private readonly book: JobBook) {}

  /** Free capacity by this node's own books: what it declared minus what it holds. */
  free(): Resources {
    const total = this.book.members.selfRecord().resources.total
    let cpu = total.cpu
    let memoryMb = total.memoryMb
    for (const a of this.local.values()) { cpu -= a.resources.cpu; memoryMb -= a.resources.memoryMb }
    return { cpu: Math.max(0, round(cpu)), memoryMb: Math.max(0, round(memoryMb)) }
  }

  count(): number {
    return this.local.size
  }

  /** Our free capacity changed and was not taken yet (takeCapacityChange). */
  capacityChanged(): boolean {
    return this.capacityDirty
  }

  /** When onTick next has something to do (a retry of an end report, a reservation expiring, the drain deadline). */
  wakeAt(drainDeadline: Millis | null): Millis {
    // Asked after every step of the node: kept until the ends or the local runs change.
    if (this.wakeCache === null) {
      let at = Infinity
      for (const e of this.ends.values()) if (e.retryAt !== null && e.retryAt < at) at = e.retryAt
      for (const la of this.local.values()) if (la.state === 'reserved') at = Math.min(at, la.since + this.book.config.reservationTtlMs)
      this.wakeCache = at
    }
    return Math.min(drainDeadline ?? Infinity, this.wakeCache)
  }

  /** A local run or reservation came, went or changed state. */
  private localChanged(): void {
    this.capacityDirty = true
    this.wakeCache = null
  }

  /** Our free capacity changed since the last call (the node core then re-announces it). */
  takeCapacityChange(): boolean {
    const d = this.capacityDirty
    this.capacityDirty = false
    return d
  }

  /**
   * A run ended: the storing nodes hear of it first, and our own copy (what our API reports)
   * takes the end only once one of them has it on disk. A runner that reported a success from its
   * own copy and died before telling anyone had its run declared lost and run again: a success
   * the cluster took back (the chaos test saw it once in ~10 runs).
   */
  private reportEnd(jobId: string, alloc: Allocation, now: Millis, out: Effect[]): void {
    const others = this.book.replicaSet(jobId).filter((n) => n !== this.book.members.selfId)
    if (others.length === 0) { this.book.update(jobId, alloc, now, out); return }
    const id = allocationId(jobId, alloc.index, alloc.attempt)
    this.ends.set(id, { jobId, alloc, retryAt: null, taken: false, waiting: 0 })
    this.wakeCache = null
    this.sendEnd(id, others, out)
  }

  private sendEnd(id: string, to: readonly string[], out: Effect[]): void {
    const e = this.ends.get(id)
    const rec = e === undefined ? undefined : this.withEnd(e)
    if (e === undefined || rec === undefined) { this.ends.delete(id); this.wakeCache = null; return }
    const update = { type: 'job-update' as const, jobs: [rec] }
    e.waiting += to.length
    for (const n of to) this.book.send(out, n, update, this.book.config.storeTimeoutMs, { purpose: 'end', allocId: id, node: n })
  }

  /**
   * A storing node's answer to an end report: the first on disk makes the end ours too. Every
   * storing node was sent it, so it is not replicated again (that was a second copy of every end
   * to every storing node); one that did not take it is sent it once more.
   */
  onEndAck(id: string, node: NodeId, ok: boolean, now: Millis, out: Effect[]): void {
    const e = this.ends.get(id)
    if (e === undefined) return
    e.waiting--
    if (ok && !e.taken) {
      e.taken = true
      e.retryAt = null
      const rec = this.withEnd(e)
      if (rec !== undefined) this.book.merge(rec, now, out, true, false)
    } else if (!ok && e.taken) {
      const r = this.book.get(e.jobId)
      if (r !== undefined) this.book.send(out, node, { type: 'job-update', jobs: [r] }, this.book.config.storeTimeoutMs, { purpose: 'update' })
    } else if (!ok) {
      e.retryAt ??= now + END_RETRY_MS
    }
    if (e.taken && e.waiting <= 0) this.ends.delete(id)
    this.wakeCache = null
  }

  /** Our copy of the job with the run's end in it (undefined: we no longer hold the job). */
  private withEnd(e: EndReport): JobRecord | undefined {
    const r = this.book.get(e.jobId)
    return r === undefined ? undefined : { ...r, allocations: { ...r.allocations, [allocKey(e.alloc.index, e.alloc.attempt)]: e.alloc } }
  }

  /** Expire reservations whose start never came; past the drain deadline, stop what still runs. */
  onTick(now: Millis, drainDeadline: Millis | null, out: Effect[]): void {
    this.wakeCache = null
    for (const [id, e] of this.ends) {
      if (e.retryAt === null || now < e.retryAt) continue
      e.retryAt = null
      const others = this.book.replicaSet(e.jobId).filter((n) => n !== this.book.members.selfId)
      if (others.length === 0) { this.ends.delete(id); this.book.update(e.jobId, e.alloc, now, out); continue }
      this.sendEnd(id, others, out)
    }
    for (const [id, la] of this.local) {
      if (la.state === 'reserved' && now - la.since > this.book.config.reservationTtlMs) {
        this.local.delete(id)
        this.localChanged()
      }
    }
    if (drainDeadline !== null && now >= drainDeadline) {
      for (const [id, la] of this.local) {
        if (la.state !== 'running' || la.stopping !== undefined) continue
        la.stopping = 'drain'
        out.push({ kind: 'kill-process', allocId: id, reason: 'killed' })
      }
    }
  }

  onOffer(jobId: string, index: number, attempt: number, need: Resources, now: Millis): RpcResponse {
    const id = allocationId(jobId, index, attempt)
    if (this.local.has(id)) return { type: 'accept' }
    if (this.book.members.selfRecord().draining) return { type: 'reject', reason: 'draining' }
    if (this.book.get(jobId)?.cancelled === true) return { type: 'reject', reason: 'cancelled' }
    const free = this.free()
    if (!admits(free, need)) return { type: 'reject', reason: `needs ${need.cpu} cpu / ${need.memoryMb} MB, has ${free.cpu} / ${free.memoryMb}` }
    this.local.set(id, { jobId, index, attempt, resources: need, state: 'reserved', since: now })
    this.localChanged()
    return { type: 'accept' }
  }

  onStart(job: JobRecord, alloc: Allocation, now: Millis, out: Effect[]): RpcResponse {
    this.book.merge(job, now, out)
    const r = this.book.get(job.id) as JobRecord
    const id = allocationId(r.id, alloc.index, alloc.attempt)
    const cur = r.allocations[allocKey(alloc.index, alloc.attempt)]
    const la = this.local.get(id)
    if (la?.state === 'running') return { type: 'ok' }
    // A grant for a batch instance that has succeeded meanwhile (by the copy merged just above) is stale too.
    if (cur === undefined || cur.nodeId !== this.book.members.selfId || cur.state !== 'claimed' || r.cancelled || batchInstanceDone(r, alloc.index)) {
      if (la !== undefined) { this.local.delete(id); this.localChanged() }
      return { type: 'reject', reason: 'stale grant' }
    }
    if (la === undefined && !admits(this.free(), r.spec.resources)) return { type: 'reject', reason: 'no room any more' }
    this.local.set(id, { jobId: r.id, index: alloc.index, attempt: alloc.attempt, resources: r.spec.resources, state: 'running', since: now })
    this.localChanged()
    this.book.stats.started++
    out.push({ kind: 'start-process', allocId: id, jobId: r.id, index: alloc.index, attempt: alloc.attempt, spec: r.spec })
    this.book.update(r.id, { ...cur, state: 'running', startedAt: now }, now, out)
    return { type: 'ok' }
  }

  onProcessExit(exit: ProcessExit, now: Millis, out: Effect[]): void {
    const la = this.local.get(exit.allocId)
    if (la === undefined) return
    this.local.delete(exit.allocId)
    this.localChanged()
    // A fenced copy was a duplicate, and a moved one was replaced: the record already says how
    // this run ended.
    if (la.stopping === 'fenced' || la.stopping === 'moved') return
    const r = this.book.get(la.jobId)
    const cur = r?.allocations[allocKey(la.index, la.attempt)]
    if (cur === undefined) return
    if (la.stopping === 'drain') {
      // Lost, not failed: a drain must not use up the job's restarts. The arbiter places it again.
      this.reportEnd(la.jobId, { ...cur, state: 'lost', exitCode: exit.exitCode, finishedAt: now, reason: `its node ${this.book.members.selfRecord().name} drained; the drain deadline passed` }, now, out)
      return
    }
    const state: AllocState = la.stopping === 'cancel' ? 'cancelled' : exit.exitCode === 0 && exit.reason === 'exited' ? 'succeeded' : 'failed'
    const reason = exit.reason === 'exited' ? (exit.exitCode === 0 ? undefined : `exited with ${exit.exitCode ?? exit.signal}`) : exit.message ?? exit.reason
    this.reportEnd(la.jobId, { ...cur, state, exitCode: exit.exitCode, finishedAt: now, ...(reason === undefined ? {} : { reason }) }, now, out)
  }

  /** After any merge: stop what we run that the record says is not ours, or is cancelled. */
  reconcile(r: JobRecord, now: Millis, out: Effect[]): void {
    const latest = latestAllocations(r)
    const pendingDuplicates: Array<{ index: number; attempt: number }> = []
    for (const [id, la] of this.local) {
      if (la.jobId !== r.id || la.stopping !== undefined) continue
      if (la.state === 'reserved') {
        if (r.cancelled) { this.local.delete(id); this.localChanged() }
        continue
      }
      const cur = r.allocations[allocKey(la.index, la.attempt)]
      const newest = latest.get(la.index)
      // A newer attempt fences this run, unless it is the replacement a drain placed for it.
      const fenced = cur === undefined || cur.nodeId !== this.book.members.selfId || cur.state === 'lost' ||
        (newest !== undefined && newest.attempt > la.attempt && newest.replaces !== la.attempt)
      if (r.cancelled && !fenced) {
        la.stopping = 'cancel'
        out.push({ kind: 'kill-process', allocId: id, reason: 'killed' })
      } else if (fenced) {
        la.stopping = 'fenced'
        this.book.stats.duplicatesStopped++
        out.push({ kind: 'kill-process', allocId: id, reason: 'killed' })
        pendingDuplicates.push({ index: la.index, attempt: la.attempt })
      } else if (cur.state === 'cancelled') {
        // Moved off this draining node: its replacement runs elsewhere.
        la.stopping = 'moved'
        out.push({ kind: 'kill-process', allocId: id, reason: 'killed' })
      }
    }
    if (pendingDuplicates.length === 0) return
    // Into the job's own history: which copy ran where it must not have, and when it was stopped.
    const self = this.book.members.selfRecord()
    const duplicates: Record<string, DuplicateRun> = { ...r.duplicates }
    for (const d of pendingDuplicates) {
      duplicates[duplicateKey(d.index, d.attempt, self.id)] = { ...d, nodeId: self.id, nodeName: self.name, stoppedAt: now }
    }
    out.push({ kind: 'emit', event: { type: 'job', job: r.id, name: r.spec.name, state: jobState(r), reason: `stopped ${pendingDuplicates.length} duplicate run(s) on ${self.name}` } })
    this.book.author({ ...r, duplicates }, now, out)
  }
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6
}
