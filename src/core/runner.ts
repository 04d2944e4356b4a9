// The node that runs instances. It starts a claim of its own when the claim's grant is complete
// (job-grants.ts) and only if its own books have room (else it closes the claim, which is then
// placed elsewhere); reports the run to the storing nodes (its start after runningReportMs, folded
// into its end when the run is shorter: most batch runs cost one report); and stops any copy that
// the merged record says is not, or no longer, its own: fencing by (index, attempt).
import { admits } from '../placement/index.js'
import { allocKey, batchInstanceDone, jobState, latestAllocations } from './job-merge.js'
import type { JobBook } from './job-book.js'
import { allocationId } from './job-status.js'
import type { Allocation, AllocState, DuplicateRun, JobRecord, ProcessExit } from './job-types.js'
import type { AllocRef, Effect, Millis, NodeId, Resources } from './types.js'

interface LocalRun {
  jobId: string
  index: number
  attempt: number
  resources: Resources
  /** When its start is reported to the storing nodes (null: reported, or no need). */
  reportAt: Millis | null
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
/**
 * After its event loop stalled (SIGSTOP, a long pause), a node reads what piled up meanwhile
 * with an old copy of every job: a start queued before the stall may be for a claim the cluster
 * gave up on while this node looked dead, and whose instance ran elsewhere since. For this long
 * after the stall it starts nothing: it asks the storing nodes for fresh copies of those jobs
 * and decides each start again on them.
 */
export const RESUME_GUARD_MS = 1_000
/**
 * Room held for an admitted job lasts this long (admission.ts): its claim comes a store and a
 * grant later, tens of milliseconds; a job whose arbiter placed it elsewhere frees it by then.
 */
const HOLD_MS = 5_000

export class Runner {
  private readonly local = new Map<string, LocalRun>()
  private readonly ends = new Map<string, EndReport>()
  /** Starts put off after a stall (RESUME_GUARD_MS), decided again once it passed. */
  private readonly deferred = new Map<string, AllocRef>()
  /** When this node's event loop came back from a stall. */
  private resumedAt = -Infinity
  /** Room held for admitted jobs: job id -> what and until when. A claim of the job started here takes it. */
  private readonly holds = new Map<string, { need: Resources; until: Millis }>()
  /** When onTick next has something to do; null: to compute. */
  private wakeCache: Millis | null = null

  constructor(
    private readonly book: JobBook,
    /** Our free capacity or run count changed (activity digests and our capacity view follow it). */
    private readonly capacityChanged: () => void,
    /** Ask the storing nodes for fresh copies of a job (its start was put off after a stall). */
    private readonly refresh: (jobId: string, out: Effect[]) => void,
  ) {}

  /** This node's event loop came back from a stall at `now` (NodeCore sees its timers fire late). */
  resumed(now: Millis): void {
    this.resumedAt = now
    this.wakeCache = null
  }

  /** Free capacity by this node's own books: what it declared minus what it runs. */
  free(): Resources {
    const total = this.book.members.selfRecord().resources.total
    let cpu = total.cpu
    let memoryMb = total.memoryMb
    for (const a of this.local.values()) { cpu -= a.resources.cpu; memoryMb -= a.resources.memoryMb }
    for (const h of this.holds.values()) { cpu -= h.need.cpu; memoryMb -= h.need.memoryMb }
    return { cpu: Math.max(0, round(cpu)), memoryMb: Math.max(0, round(memoryMb)) }
  }

  /** A job was collected: end reports of it still unanswered are dropped (an hour and more late). */
  forgetJob(jobId: string): void {
    for (const [id, e] of this.ends) if (e.jobId === jobId) this.ends.delete(id)
    for (const [id, ref] of this.deferred) if (ref.id === jobId) this.deferred.delete(id)
    this.holds.delete(jobId)
    this.wakeCache = null
  }

  /** Hold room for one instance of an admitted job, if our books have it. */
  hold(jobId: string, need: Resources, now: Millis): boolean {
    const held = this.holds.get(jobId)
    if (held !== undefined) { held.until = now + HOLD_MS; return true }
    if (this.book.members.selfRecord().draining || !admits(this.free(), need)) return false
    this.holds.set(jobId, { need, until: now + HOLD_MS })
    this.localChanged()
    return true
  }

  count(): number {
    return this.local.size
  }

  /** Whether this node runs the run `allocId` now. */
  runs(allocId: string): boolean {
    return this.local.has(allocId)
  }

  /** When onTick next has something to do (a report due, an end to send again, the drain deadline). */
  wakeAt(drainDeadline: Millis | null): Millis {
    if (this.wakeCache === null) {
      let at = Infinity
      for (const e of this.ends.values()) if (e.retryAt !== null && e.retryAt < at) at = e.retryAt
      for (const la of this.local.values()) if (la.reportAt !== null && la.reportAt < at) at = la.reportAt
      for (const h of this.holds.values()) if (h.until < at) at = h.until
      if (this.deferred.size > 0) at = Math.min(at, this.resumedAt + RESUME_GUARD_MS)
      this.wakeCache = at
    }
    return Math.min(drainDeadline ?? Infinity, this.wakeCache)
  }

  private localChanged(): void {
    this.wakeCache = null
    this.capacityChanged()
  }

  /** Start a claim of ours whose grant is complete. A start of a run we have, or had, does nothing. */
  start(ref: AllocRef, now: Millis, out: Effect[]): void {
    const id = allocationId(ref.id, ref.index, ref.attempt)
    if (this.local.has(id)) return
    if (now < this.resumedAt + RESUME_GUARD_MS) {
      if (!this.deferred.has(id)) {
        this.deferred.set(id, ref)
        this.refresh(ref.id, out)
      }
      this.wakeCache = null
      return
    }
    const r = this.book.get(ref.id)
    const cur = r?.allocations[allocKey(ref.index, ref.attempt)]
    const self = this.book.members.selfRecord()
    // Not ours, not a claim any more (it ran, or ended), or stale: nothing to start.
    if (r === undefined || cur === undefined || cur.nodeId !== self.id || cur.state !== 'claimed' || r.cancelled || batchInstanceDone(r, ref.index)) return
    // Room held for this job at its admission is room for this run.
    const held = this.holds.get(r.id)
    if (held !== undefined) { this.holds.delete(r.id); this.localChanged() }
    const free = this.free()
    const need = r.spec.resources
    if (self.draining || !admits(free, need)) {
      // Our books say no (a view elsewhere was stale, or we drain): the claim will not run here.
      this.book.stats.startsRefused++
      const why = self.draining ? 'it is draining' : `needs ${need.cpu} cpu / ${need.memoryMb} MB, has ${free.cpu} / ${free.memoryMb}`
      this.book.author({ id: r.id, allocs: [{ ...cur, state: 'lost', finishedAt: now, reason: `node ${self.name} refused the start: ${why}` }] }, now, out)
      return
    }
    const reportAt = this.book.replicaSet(r.id).some((n) => n !== self.id) ? now + this.book.config.runningReportMs : null
    this.local.set(id, { jobId: r.id, index: ref.index, attempt: ref.attempt, resources: need, reportAt })
    this.localChanged()
    this.book.stats.started++
    out.push({ kind: 'start-process', allocId: id, jobId: r.id, index: ref.index, attempt: ref.attempt, spec: r.spec })
    this.book.note({ id: r.id, allocs: [{ ...cur, state: 'running', startedAt: now }] }, now, out)
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

  /**
   * A run ended: the storing nodes hear of it first, and our own copy (what our API reports)
   * takes the end only once one of them has it on disk. A runner that showed a success from its
   * own copy and died before telling anyone would have its run declared lost and run again: a
   * success the cluster took back.
   */
  private reportEnd(jobId: string, alloc: Allocation, now: Millis, out: Effect[]): void {
    const others = this.book.replicaSet(jobId).filter((n) => n !== this.book.members.selfId)
    if (others.length === 0) { this.book.note({ id: jobId, allocs: [alloc] }, now, out); return }
    const id = allocationId(jobId, alloc.index, alloc.attempt)
    this.ends.set(id, { jobId, alloc, retryAt: null, taken: false, waiting: 0 })
    this.wakeCache = null
    this.sendEnd(id, others)
  }

  private sendEnd(id: string, to: readonly NodeId[]): void {
    const e = this.ends.get(id)
    if (e === undefined) return
    e.waiting += to.length
    for (const n of to) this.book.outbox.add(n, { id: e.jobId, allocs: [e.alloc] }, { kind: 'end', allocId: id })
  }

  /**
   * A storing node's answer to an end report: the first on disk makes the end ours too. Every
   * storing node was sent it, so it is not sent again from our copy; one that did not take it is
   * sent it once more.
   */
  onEndAnswer(id: string, node: NodeId, ok: boolean, now: Millis, out: Effect[]): void {
    const e = this.ends.get(id)
    if (e === undefined) return
    e.waiting--
    if (ok && !e.taken) {
      e.taken = true
      e.retryAt = null
      this.book.note({ id: e.jobId, allocs: [e.alloc] }, now, out)
    } else if (!ok && e.taken) {
      this.book.outbox.add(node, { id: e.jobId, allocs: [e.alloc] })
    } else if (!ok) {
      e.retryAt ??= now + END_RETRY_MS
    }
    if (e.taken && e.waiting <= 0) this.ends.delete(id)
    this.wakeCache = null
  }

  /** Send reports that are due and end reports to try again; past the drain deadline, stop what still runs. */
  onTick(now: Millis, drainDeadline: Millis | null, out: Effect[]): void {
    this.wakeCache = null
    if (this.deferred.size > 0 && now >= this.resumedAt + RESUME_GUARD_MS) {
      // Decided again on the copies the storing nodes sent meanwhile.
      const refs = [...this.deferred.values()]
      this.deferred.clear()
      for (const ref of refs) this.start(ref, now, out)
    }
    for (const [id, h] of this.holds) if (h.until <= now) { this.holds.delete(id); this.localChanged() }
    for (const [id, e] of this.ends) {
      if (e.retryAt === null || now < e.retryAt || e.waiting > 0) continue
      e.retryAt = null
      const others = this.book.replicaSet(e.jobId).filter((n) => n !== this.book.members.selfId)
      if (others.length === 0) { this.ends.delete(id); this.book.note({ id: e.jobId, allocs: [e.alloc] }, now, out); continue }
      this.sendEnd(id, others)
    }
    for (const la of this.local.values()) {
      if (la.reportAt === null || now < la.reportAt) continue
      la.reportAt = null
      const a = this.book.get(la.jobId)?.allocations[allocKey(la.index, la.attempt)]
      if (a === undefined || a.state !== 'running') continue
      for (const n of this.book.replicaSet(la.jobId)) if (n !== this.book.members.selfId) this.book.outbox.add(n, { id: la.jobId, allocs: [a] })
    }
    if (drainDeadline !== null && now >= drainDeadline) {
      for (const [id, la] of this.local) {
        if (la.stopping !== undefined) continue
        la.stopping = 'drain'
        out.push({ kind: 'kill-process', allocId: id, reason: 'killed' })
      }
    }
  }

  /** After any change to a record: stop what we run that it says is not ours, or is cancelled. */
  reconcile(r: JobRecord, now: Millis, out: Effect[]): void {
    const latest = latestAllocations(r)
    const stopped: Array<{ index: number; attempt: number }> = []
    for (const [id, la] of this.local) {
      if (la.jobId !== r.id || la.stopping !== undefined) continue
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
        stopped.push({ index: la.index, attempt: la.attempt })
      } else if (cur.state === 'cancelled') {
        // Moved off this draining node: its replacement runs elsewhere.
        la.stopping = 'moved'
        out.push({ kind: 'kill-process', allocId: id, reason: 'killed' })
      }
    }
    if (stopped.length === 0) return
    // Into the job's own history: which copy ran where it must not have, and when it was stopped.
    const self = this.book.members.selfRecord()
    const duplicates: DuplicateRun[] = stopped.map((d) => ({ ...d, nodeId: self.id, nodeName: self.name, stoppedAt: now }))
    this.book.announce({ type: 'job', job: r.id, name: r.spec.name, state: jobState(r), reason: `stopped ${stopped.length} duplicate run(s) on ${self.name}` }, now, out)
    this.book.author({ id: r.id, duplicates }, now, out)
  }
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6
}

