// The node that runs instances. It starts a claim of its own when the claim's grant is complete
// (job-grants.ts) and only if its own books have room (else it closes the claim, which is then
// placed elsewhere); reports the run to the storing nodes (its start after runningReportMs, folded
// into its end when the run is shorter: most batch runs cost one report); and stops any copy that
// the merged record says is not its own: fencing by (index, attempt). After a partition it
// re-asserts a run others took for lost while it ran, and of two runs of one instance keeps the
// one the job's policy keeps (partition-policy.ts); a node cut off from most of a job's storing
// nodes past the job's `stopAfterMs` stops its run of it (self-fencing), and starts none.
import { admits } from '../placement/index.js'
import { allocKey, batchInstanceDone, jobState } from './job-merge.js'
import { asStarted, cutOffFor, keptRun, rivalsOf } from './partition-policy.js'
import type { JobBook } from './job-book.js'
import { allocationId } from './job-status.js'
import { disconnectOf, type Allocation, type AllocState, type DuplicateRun, type JobRecord, type ProcessExit } from './job-types.js'
import type { AllocRef, Effect, Millis, NodeId, Resources } from './types.js'

interface LocalRun {
  jobId: string
  index: number
  attempt: number
  resources: Resources
  /** When it started here (the record's copy may lack it: a `lost` verdict made before the report). */
  startedAt: Millis
  /** When its start is reported to the storing nodes (null: reported, or no need). */
  reportAt: Millis | null
  /** The job's `disconnect.stopAfterMs`, when it has one (the run stops when cut off that long). */
  stopAfterMs: number | null
  /** Why we asked the process to stop, so its exit is recorded right. */
  stopping?: 'cancel' | 'fenced' | 'moved' | 'drain' | 'cutoff'
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
  /** How many of them have a `stopAfterMs` (most jobs have none: nothing to check for them). */
  private bounded = 0
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
    // On every answer and every batch of deltas this node sends: summed again only when a run or
    // a hold came or went (or the declared total changed).
    if (this.freeCache?.total === total) return this.freeCache.free
    let cpu = total.cpu
    let memoryMb = total.memoryMb
    for (const a of this.local.values()) { cpu -= a.resources.cpu; memoryMb -= a.resources.memoryMb }
    for (const h of this.holds.values()) { cpu -= h.need.cpu; memoryMb -= h.need.memoryMb }
    const free = { cpu: Math.max(0, round(cpu)), memoryMb: Math.max(0, round(memoryMb)) }
    this.freeCache = { total, free }
    return free
  }

  /** free() as of the last change of runs and holds; null: to compute. */
  private freeCache: { total: Resources; free: Resources } | null = null

  /** A job was collected: end reports of it still unanswered are dropped (an hour and more late). */
  forgetJob(jobId: string): void {
    for (const [id, e] of this.ends) if (e.jobId === jobId) this.ends.delete(id)
    for (const [id, ref] of this.deferred) if (ref.id === jobId) this.deferred.delete(id)
    if (this.holds.delete(jobId)) this.freeCache = null
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
    return Math.min(drainDeadline ?? Infinity, this.wakeCache, this.nextCutOffStop())
  }

  /** When the first of our runs that `stopAfterMs` will stop is due (Infinity: none; not cached: membership moves it). */
  private nextCutOffStop(): Millis {
    if (this.bounded === 0) return Infinity
    let at = Infinity
    for (const la of this.local.values()) {
      if (la.stopping !== undefined || la.stopAfterMs === null) continue
      const r = this.book.get(la.jobId)
      const since = r === undefined ? null : this.cutOffSince(r)
      if (since !== null && since + la.stopAfterMs < at) at = since + la.stopAfterMs
    }
    return at
  }

  private localChanged(): void {
    this.wakeCache = null
    this.freeCache = null
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
    // After a partition: an older run of this instance may be back in sight, and the policy may keep it.
    const rivals = rivalsOf(r, cur).filter((a) => a.state === 'running')
    if (rivals.length > 0) {
      const kept = keptRun(disconnectOf(r.spec).reconcile, r.id, [asStarted(cur, now), ...rivals])
      if (kept.attempt !== cur.attempt) {
        this.book.author({ id: r.id, allocs: [{ ...cur, state: 'cancelled', finishedAt: now, reason: `not started: attempt ${kept.attempt} on ${kept.nodeName} runs this instance, and the job's policy (${disconnectOf(r.spec).reconcile}) keeps it` }] }, now, out)
        return
      }
    }
    if (this.cutOffSince(r) !== null) {
      // The side that sees most of the job's storing nodes runs it; a start from before the cut
      // would be a duplicate there.
      this.book.author({ id: r.id, allocs: [{ ...cur, state: 'lost', finishedAt: now, lostBy: self.id, reason: `node ${self.name} refused the start: it is cut off from most of the job's storing nodes (disconnect.stopAfterMs)` }] }, now, out)
      return
    }
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
    const stopAfterMs = disconnectOf(r.spec).stopAfterMs
    this.local.set(id, { jobId: r.id, index: ref.index, attempt: ref.attempt, resources: need, startedAt: now, reportAt, stopAfterMs })
    if (stopAfterMs !== null) this.bounded++
    this.localChanged()
    this.book.stats.started++
    out.push({ kind: 'start-process', allocId: id, jobId: r.id, index: ref.index, attempt: ref.attempt, spec: r.spec })
    this.book.note({ id: r.id, allocs: [{ ...cur, state: 'running', startedAt: now }] }, now, out)
  }

  onProcessExit(exit: ProcessExit, now: Millis, out: Effect[]): void {
    const la = this.local.get(exit.allocId)
    if (la === undefined) return
    this.local.delete(exit.allocId)
    if (la.stopAfterMs !== null) this.bounded--
    this.localChanged()
    // A fenced copy was a duplicate, and a moved one was replaced: the record already says how
    // this run ended.
    if (la.stopping === 'fenced' || la.stopping === 'moved') return
    const r = this.book.get(la.jobId)
    const cur = r?.allocations[allocKey(la.index, la.attempt)]
    if (cur === undefined) return
    if (la.stopping === 'drain') {
      // Lost, not failed: a drain must not use up the job's restarts. The arbiter places it again.
      this.reportEnd(la.jobId, { ...cur, state: 'lost', exitCode: exit.exitCode, finishedAt: now, lostBy: this.book.members.selfId, reason: `its node ${this.book.members.selfRecord().name} drained; the drain deadline passed` }, now, out)
      return
    }
    if (la.stopping === 'cutoff') {
      const after = la.stopAfterMs ?? 0
      this.reportEnd(la.jobId, { ...cur, state: 'lost', exitCode: exit.exitCode, finishedAt: now, lostBy: this.book.members.selfId, reason: `stopped by its node ${this.book.members.selfRecord().name}: cut off from most of the job's storing nodes for ${after / 1000} s (disconnect.stopAfterMs)` }, now, out)
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
    this.fenceCutOff(now, out)
    if (drainDeadline !== null && now >= drainDeadline) {
      for (const [id, la] of this.local) {
        if (la.stopping !== undefined) continue
        la.stopping = 'drain'
        out.push({ kind: 'kill-process', allocId: id, reason: 'killed' })
      }
    }
  }

  /** Since when we are cut off from `r`'s storing nodes (null: we are not; partition-policy.ts). */
  private cutOffSince(r: JobRecord): Millis | null {
    return cutOffFor(r, this.book.members, this.book.config.replicas)
  }

  /** Stop our runs of jobs we have been cut off from for their `stopAfterMs`: they run on the other side by now. */
  private fenceCutOff(now: Millis, out: Effect[]): void {
    if (this.bounded === 0) return
    for (const [id, la] of this.local) {
      if (la.stopping !== undefined || la.stopAfterMs === null) continue
      const r = this.book.get(la.jobId)
      const since = r === undefined ? null : this.cutOffSince(r)
      if (since === null || now - since < la.stopAfterMs) continue
      la.stopping = 'cutoff'
      out.push({ kind: 'kill-process', allocId: id, reason: 'killed' })
    }
  }

  /** After any change to a record: stop what we run that it says is not ours, or is cancelled. */
  reconcile(r: JobRecord, now: Millis, out: Effect[]): void {
    const self = this.book.members.selfRecord()
    const stopped: Array<{ index: number; attempt: number }> = []
    for (const [id, la] of this.local) {
      if (la.jobId !== r.id || la.stopping !== undefined) continue
      const cur = r.allocations[allocKey(la.index, la.attempt)]
      if (cur === undefined || cur.nodeId !== self.id) {
        // The record gives this run to another node: a zombie (a claim we never had).
        this.stop(id, la, 'fenced', out)
        stopped.push({ index: la.index, attempt: la.attempt })
        continue
      }
      if (r.cancelled) { this.stop(id, la, 'cancel', out); continue }
      // Moved off this draining node (its replacement runs elsewhere), or stopped by the policy.
      if (cur.state === 'cancelled') { this.stop(id, la, 'moved', out); continue }
      const rivals = rivalsOf(r, cur)
      const policy = disconnectOf(r.spec).reconcile
      // Ours as it really ran: the record's copy may be a verdict made before our start was reported.
      const ours = { ...cur, startedAt: la.startedAt }
      const kept = rivals.length === 0 ? ours : keptRun(policy, r.id, [ours, ...rivals])
      if (kept.attempt !== cur.attempt) {
        // Two runs of one instance (a healed partition, a thawed node): the job's policy keeps
        // the other. Ours stops, and is recorded as the duplicate it is. The kept run goes along
        // as we know it: a node that learns of our stop before the kept run's own news (its
        // node re-asserting it after a heal) would see the instance run nowhere and place it again.
        this.stop(id, la, 'fenced', out)
        stopped.push({ index: la.index, attempt: la.attempt })
        if (cur.state !== 'lost') this.book.author({ id: r.id, allocs: [{ ...cur, state: 'cancelled', finishedAt: now, reason: `a duplicate of attempt ${kept.attempt} on ${kept.nodeName}, which the job's policy (${policy}) keeps` }, kept] }, now, out)
      } else if (cur.state === 'lost') {
        // Others took our run for lost while it ran (we were out of their sight): it runs, and
        // the policy keeps it. A higher epoch says so over their guess.
        const { reason: _reason, lostBy: _lostBy, ...rest } = cur
        this.book.author({ id: r.id, allocs: [{ ...rest, state: 'running', startedAt: la.startedAt, finishedAt: null, epoch: (cur.epoch ?? 0) + 1 }] }, now, out)
      }
    }
    if (stopped.length === 0) return
    // Into the job's own history: which copy ran where it must not have, and when it was stopped.
    const duplicates: DuplicateRun[] = stopped.map((d) => ({ ...d, nodeId: self.id, nodeName: self.name, stoppedAt: now }))
    const current = this.book.get(r.id) ?? r
    this.book.announce({ type: 'job', job: r.id, name: r.spec.name, state: jobState(current), reason: `stopped ${stopped.length} duplicate run(s) on ${self.name}` }, now, out)
    this.book.author({ id: r.id, duplicates }, now, out)
  }

  private stop(id: string, la: LocalRun, why: NonNullable<LocalRun['stopping']>, out: Effect[]): void {
    la.stopping = why
    if (why === 'fenced') this.book.stats.duplicatesStopped++
    out.push({ kind: 'kill-process', allocId: id, reason: 'killed' })
  }
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6
}

