// Jobs without a master, as a pure state machine.
//
// - Storage: a job lives on its replica set, the top 3 live nodes by rendezvous hash of its id.
//   Every node computes the same set from its membership view. The node taking a submit stores
//   the job there over direct requests and acknowledges only once they all have it on disk.
// - Placement: the first live replica is the job's arbiter (src/core/arbiter.ts): one offer per
//   instance attempt, to the best candidate; the grant is replicated before the start is sent.
// - Running: src/core/runner.ts reserves, starts, reports ends, and fences stale copies: (index,
//   attempt) names one run, and a node whose run the merged record gives away stops it.
// - Spread: every change is gossiped in batches to all nodes (so any node answers for any job),
//   and the periodic state exchange compares digests to repair what gossip lost. When the live
//   set changes, src/core/replica-repair.ts copies jobs to their new storing nodes.
import { Arbiter } from './arbiter.js'
import { JobExchange } from './job-exchange.js'
import { live, type JobBook, type JobsStats, type MemberView, type Pending } from './job-book.js'
import { allocKey, isTerminalAlloc, jobDigest, jobState, mergeJob } from './job-merge.js'
import { sameJson } from './records.js'
import { gossipBatches, jobChangeEvents, toJobStatus } from './job-status.js'
import type { Allocation, ApiRequest, JobRecord, JobStatus, ProcessExit } from './job-types.js'
import { JOBS_DEFAULTS, type JobsConfig } from './jobs-config.js'
import { ReplicaRanking } from './replica-ranking.js'
import { ReplicaRepair } from './replica-repair.js'
import { Runner } from './runner.js'
import { Submits } from './job-submit.js'
import type { Effect, Millis, NodeId, Resources, RpcRequest, RpcResponse } from './types.js'

export { JOBS_DEFAULTS, type JobsConfig, type JobsStats, type MemberView }

export class Jobs {
  private readonly jobs = new Map<string, JobRecord>()
  private readonly pending = new Map<number, Pending>()
  private readonly gossipOut = new Set<string>()
  /** Jobs this node keeps on disk (it was a replica, or was asked to store them). */
  private readonly persisted = new Set<string>()
  /** Jobs the arbiter loop still has to look at: not finished, or cancelled with open claims. */
  private readonly active = new Set<string>()
  /** Digest of each job as we hold it, so a merge hashes only the new copy. */
  private readonly digests = new Map<string, string>()
  private readonly rankings: ReplicaRanking
  /** While this node drains: when its remaining runs are stopped and placed elsewhere. */
  private drainDeadline: Millis | null = null
  /**
   * A node that restarted holds job records from its disk, possibly older than the cluster's. It
   * does not arbitrate until a state exchange brought it up to date (or restartHoldMs passed):
   * acting on a stale copy would place attempts the cluster already made, or made otherwise.
   */
  private catchingUp = false
  private lastFlushAt = -Infinity
  /** Jobs that changed in this step: the arbiter looks at them at its end (see endStep). */
  private readonly dirty = new Set<string>()
  readonly stats: JobsStats = { submitted: 0, placed: 0, offersRejected: 0, duplicatesStopped: 0, started: 0, replicasRepaired: 0, drainMoves: 0, offersLost: 0, capacityAsks: 0 }
  private readonly arbiter: Arbiter
  private readonly runner: Runner
  private readonly repair: ReplicaRepair
  private readonly exchange: JobExchange
  private readonly submits: Submits
  /** Live node count, per membership live version (gossip of jobs depends on it). */
  private liveCount = { version: -1, count: 0 }
  private mine = { version: -1, ids: new Set<string>() }

  constructor(
    private readonly members: MemberView,
    private readonly nextCorr: () => number,
    private readonly config: JobsConfig = JOBS_DEFAULTS,
  ) {
    const book: JobBook = {
      members, config, stats: this.stats,
      get: (id) => this.jobs.get(id),
      update: (id, alloc, now, out) => this.update(id, alloc, now, out),
      author: (r, now, out) => this.author(r, now, out),
      merge: (r, now, out, authored, replicate, persist) => this.merge(r, now, out, authored, replicate, persist),
      send: (out, to, msg, timeoutMs, p) => this.send(out, to, msg, timeoutMs, p),
      forget: (corr) => { this.pending.delete(corr) },
      replicaSet: (id) => this.replicaSet(id),
      touch: (id) => { if (this.active.has(id)) this.dirty.add(id) },
      sampling: () => this.sampling(),
    }
    this.rankings = new ReplicaRanking(config.replicas)
    this.arbiter = new Arbiter(book)
    this.runner = new Runner(book)
    this.repair = new ReplicaRepair(book)
    this.submits = new Submits(book, {
      liveNodes: () => this.liveNodes(), ranking: (id) => this.ranking(id), persist: (r, o) => this.persist(r, o),
      admit: (job, now, out, done) => this.arbiter.admit(job, now, out, done),
      reserved: (id, node, now) => this.arbiter.reserved(id, node, now),
    })
    this.exchange = new JobExchange(book, { jobs: this.jobs, digestOf: (id) => this.digestOf(id), caughtUp: () => { this.catchingUp = false } })
  }

  // --- queries --------------------------------------------------------------------------------

  statuses(): JobStatus[] {
    return [...this.jobs.values()].sort((a, b) => a.submittedAt - b.submittedAt || (a.id < b.id ? -1 : 1)).map(toJobStatus)
  }

  status(id: string): JobStatus | undefined {
    const r = this.jobs.get(id)
    return r === undefined ? undefined : toJobStatus(r)
  }

  record(id: string): JobRecord | undefined {
    return this.jobs.get(id)
  }

  /** Free capacity by this node's own books: what it declared minus what it holds. */
  free(): Resources {
    return this.runner.free()
  }

  localCount(): number {
    return this.runner.count()
  }

  /** Requests this node still waits on (replication, updates): a leaving node lets them finish. */
  pendingCount(): number {
    return this.pending.size
  }

  /** When this node's drain deadline passes, or null when it is not draining. */
  drainDeadlineAt(): Millis | null {
    return this.drainDeadline
  }

  /** The nodes that store a job: the top live nodes by rendezvous hash of its id. */
  replicaSet(jobId: string): NodeId[] {
    return this.rankings.top(jobId, this.members.liveVersion(), this.liveIds)
  }

  // --- start-up ---------------------------------------------------------------------------------

  /** A drain that was under way when this node stopped goes on after its restart. */
  restoreDrain(deadlineAt: Millis): void {
    this.drainDeadline = deadlineAt
  }

  /** Jobs this node stored before a restart. Its runs died with it: report them lost. */
  load(records: JobRecord[], now: Millis, out: Effect[]): void {
    this.catchingUp = records.length > 0
    for (const r of records) {
      this.setJob(r)
      this.persisted.add(r.id)
      for (const a of Object.values(r.allocations)) {
        if (a.nodeId === this.members.selfId && !isTerminalAlloc(a.state)) {
          this.update(r.id, { ...a, state: 'lost', finishedAt: now, reason: 'its node restarted' }, now, out)
        }
      }
    }
  }

  // --- events -----------------------------------------------------------------------------------

  onApi(reqId: number, req: ApiRequest, now: Millis, out: Effect[]): void {
    if (req.op === 'submit') this.submits.submit(reqId, req.id, req.spec, req.admit, now, out)
    else if (req.op === 'cancel') this.cancel(reqId, req.id, now, out)
    else if (req.op === 'get') this.exchange.get(reqId, req.id, now, out)
    else if (req.op === 'list') this.exchange.list(reqId, now, out)
    else this.drainRequest(reqId, req.node, req.enable, req.deadlineMs, req.transient === true, now, out)
  }

  /** Returns true when the request was one of ours. */
  onRequest(from: NodeId, reqId: number, msg: RpcRequest, now: Millis, out: Effect[]): boolean {
    switch (msg.type) {
      case 'job-sync':
        this.reply(out, reqId, this.exchange.onSync(from, msg.digests))
        return true
      case 'job-fetch':
        this.reply(out, reqId, this.exchange.onFetch(msg.ids, msg.after))
        return true
      case 'capacity':
        this.reply(out, reqId, { type: 'capacity', free: this.runner.free() })
        return true
      case 'capacity-scan':
        // Only a member of our cell scanned our cell.
        if (this.members.record(from) !== undefined) this.arbiter.adoptScan(msg.free, now)
        this.reply(out, reqId, { type: 'ok' })
        return true
      // Asked directly to keep a job: write it before answering, whatever our own view of the
      // replica set says (the asker's view chose us; the ok is what makes the submit durable).
      case 'store-job':
        if (msg.reserved !== undefined) this.arbiter.reserved(msg.job.id, msg.reserved, now)
        this.merge(msg.job, now, out, false, true, true)
        this.reply(out, reqId, { type: 'ok' })
        return true
      case 'job-update':
        for (const j of msg.jobs) this.merge(j, now, out, false, true, true)
        this.reply(out, reqId, { type: 'ok' })
        return true
      case 'offer':
        this.reply(out, reqId, this.runner.onOffer(msg.jobId, msg.index, msg.attempt, msg.resources, now))
        return true
      case 'start':
        this.reply(out, reqId, this.runner.onStart(msg.job, msg.alloc, now, out))
        return true
      case 'drain':
        this.setDrain(msg.enable, msg.deadlineMs, now, out)
        this.reply(out, reqId, { type: 'ok' })
        return true
      default:
        return false
    }
  }

  onResponse(corr: number, msg: RpcResponse | null, now: Millis, out: Effect[]): void {
    const p = this.pending.get(corr)
    if (p === undefined) return
    this.pending.delete(corr)
    const ok = msg !== null && (msg.type === 'ok' || msg.type === 'accept')
    switch (p.purpose) {
      case 'store':
        this.submits.onStored(p, ok, now, out)
        return
      case 'admit':
        this.arbiter.onAdmitAnswer(p, msg, now, out)
        return
      case 'offer':
        this.arbiter.onOfferAnswer(p, ok, now, out)
        // Turned down: the next candidate gets the offer now.
        if (!ok) this.dirty.add(p.jobId)
        return
      case 'grant':
        this.arbiter.onGrantAck(p.grantId, now, out)
        return
      case 'start':
        this.arbiter.onStartAnswer(p, msg, now, out)
        return
      case 'drain': {
        const name = this.members.record(p.node)?.name ?? p.node
        out.push({ kind: 'api-reply', reqId: p.reqId, reply: ok
          ? { status: 202, body: { id: p.node, name, draining: true } }
          : { status: 503, body: { error: { code: 'unavailable', message: `node ${name} did not take the drain request${msg?.type === 'error' ? `: ${msg.message}` : ''}; nothing changed` } } } })
        return
      }
      case 'repair':
        this.repair.onAnswer(p.node, p.ids, ok)
        return
      case 'job-sync':
        this.exchange.onSyncAnswer(p.node, msg, now, out)
        return
      case 'read':
        this.exchange.onFetchAnswer(p.readId, p.node, msg, now, out)
        return
      case 'capacity':
        this.arbiter.onCapacity(p, msg, now)
        return
      case 'end':
        this.runner.onEndAck(p.allocId, p.node, ok, now, out)
        return
      case 'update':
      case 'sync-push':
        return
    }
  }

  onProcessExit(exit: ProcessExit, now: Millis, out: Effect[]): void {
    this.runner.onProcessExit(exit, now, out)
  }

  onTick(now: Millis, out: Effect[]): void {
    this.arbiter.noteTick(now)
    this.runner.onTick(now, this.drainDeadline, out)
    this.repair.check(this.jobs, this.persisted, (r, o) => this.persist(r, o), out)
    this.arbitrateAll(now, out)
    this.exchange.onTick(now, this.catchingUp, out)
    this.flushGossip(now, out)
  }

  /**
   * The earliest time onTick could do anything (0: at the next tick). A runtime that ticks anyway
   * needs none of this; the simulator skips the ticks before it (they would change nothing), which
   * at 10,000 nodes is most of them.
   */
  wakeAt(): Millis {
    if (this.arbiter.upSinceAt() === null || this.catchingUp || this.dirty.size > 0 || this.gossipOut.size > 0 || this.repair.due()) return 0
    const mine = this.arbitered()
    if (mine.size > 0 && this.arbiter.stale()) return 0
    const jobsAt = this.arbiter.earliestWake(this.active, mine)
    return Math.min(jobsAt, this.exchange.wakeAt(), this.runner.wakeAt(this.drainDeadline))
  }

  /** Free capacity changed and is not announced yet. */
  capacityChanged(): boolean {
    return this.runner.capacityChanged()
  }

  /**
   * A member became live or stopped being live. Its runs are lost now, not on the next tick, and
   * copies owed to new storing nodes go out now: every step saved here is time a job is down.
   */
  onLiveChange(now: Millis, out: Effect[]): void {
    this.repair.check(this.jobs, this.persisted, (r, o) => this.persist(r, o), out)
    this.arbitrateAll(now, out)
  }

  /**
   * End of a step: arbitrate the jobs that changed in it, and publish what changed. The first change after a quiet spell goes out at once
   * (a moved job is seen running everywhere without waiting for a tick); changes that follow
   * within gossipCoalesceMs wait for the tick, so a burst of submits is one message, not hundreds.
   */
  endStep(now: Millis, out: Effect[]): void {
    if (this.dirty.size > 0) {
      const ids = [...this.dirty]
      this.dirty.clear()
      if (!this.holding(now)) {
        for (const id of ids) {
          const r = this.jobs.get(id)
          if (r !== undefined && this.active.has(id) && this.arbiter.isArbiterOf(id)) this.arbiter.arbitrate(r, now, out)
        }
      }
    }
    if (this.gossipOut.size > 0 && now - this.lastFlushAt >= this.config.gossipCoalesceMs) this.flushGossip(now, out)
  }

  /** A restarted node holds off arbitrating until it caught up (see catchingUp). */
  private holding(now: Millis): boolean {
    if (!this.catchingUp) return false
    const upSince = this.arbiter.upSinceAt()
    if (upSince === null || now - upSince <= this.config.restartHoldMs) return true
    this.catchingUp = false
    return false
  }

  private arbitrateAll(now: Millis, out: Effect[]): void {
    // Changed jobs are decided afresh here rather than at the end of the step.
    for (const id of this.dirty) this.arbiter.changed(id)
    this.dirty.clear()
    if (this.holding(now)) return
    for (const id of [...this.arbitered()]) {
      const r = this.jobs.get(id)
      if (r !== undefined && this.active.has(id)) this.arbiter.onTick(r, now, out)
    }
  }

  /** Our free capacity changed since the last call (the node core then re-announces it). */
  takeCapacityChange(): boolean {
    return this.runner.takeCapacityChange()
  }

  // --- submit and cancel ------------------------------------------------------------------------

  /** A cancel: on our copy when we store the job, else on the storing nodes' (fetched first). */
  private cancel(reqId: number, id: string, now: Millis, out: Effect[]): void {
    this.exchange.get(reqId, id, now, out, (found, at, o) => {
      if (found === undefined) {
        o.push({ kind: 'api-reply', reqId, reply: { status: 404, body: { error: { code: 'not_found', message: `no job ${id}` } } } })
        return
      }
      this.merge(found, at, o)
      const r = this.jobs.get(id) as JobRecord
      if (!r.cancelled) this.author({ ...r, cancelled: true }, at, o)
      o.push({ kind: 'api-reply', reqId, reply: { status: 202, body: { id, state: 'cancelled' } } })
    })
  }

  // --- drain --------------------------------------------------------------------------------------

  /** An operator's drain: this node itself, or another node told over a direct request. */
  private drainRequest(reqId: number, node: NodeId, enable: boolean, deadlineMs: number, transient: boolean, now: Millis, out: Effect[]): void {
    if (node === this.members.selfId) {
      this.setDrain(enable, deadlineMs, now, out, !transient)
      const self = this.members.selfRecord()
      out.push({ kind: 'api-reply', reqId, reply: { status: 202, body: { id: self.id, name: self.name, draining: enable } } })
      return
    }
    const target = this.members.record(node)
    if (!live(target)) {
      out.push({ kind: 'api-reply', reqId, reply: { status: 409, body: { error: {
        code: 'not_alive', message: `node ${target?.name ?? node} is ${target?.state ?? 'unknown'}; only a live node can be drained`,
      } } } })
      return
    }
    this.send(out, node, { type: 'drain', enable, deadlineMs }, this.config.storeTimeoutMs, { purpose: 'drain', reqId, node })
  }

  /**
   * Start (or stop) draining this node: no offer is accepted, service runs move (the arbiter
   * places a replacement first), and whatever still runs at the deadline is stopped and placed
   * again. The flag is persisted, so a restart goes on draining.
   */
  private setDrain(enable: boolean, deadlineMs: number, now: Millis, out: Effect[], keep = true): void {
    this.drainDeadline = enable ? now + deadlineMs : null
    if (keep) out.push({ kind: 'persist', key: DRAIN_KEY, value: enable ? { deadlineAt: this.drainDeadline } : null })
    if (this.members.selfRecord().draining !== enable) this.members.setDraining(enable, now, out)
  }

  // --- merging and spreading ----------------------------------------------------------------------

  /** Change one allocation, as its author (arbiter or runner). */
  private update(jobId: string, alloc: Allocation, now: Millis, out: Effect[]): void {
    const r = this.jobs.get(jobId)
    if (r === undefined) return
    this.author({ ...r, allocations: { ...r.allocations, [allocKey(alloc.index, alloc.attempt)]: alloc } }, now, out)
  }

  /** A change made here: merge it, and send it to the replicas and to everyone. */
  private author(r: JobRecord, now: Millis, out: Effect[]): void {
    this.merge(r, now, out, true)
  }

  /**
   * Merge a copy into ours. If it changed anything: persist when we are a replica, emit events,
   * stop local runs it fences, and (for our own changes) replicate and gossip it.
   */
  private merge(incoming: JobRecord, now: Millis, out: Effect[], authored = false, replicate = true, persist = false): void {
    const cur = this.jobs.get(incoming.id)
    const next = cur === undefined ? incoming : mergeJob(cur, incoming)
    // Same JSON text, same record (what the digests compare); most copies are the very object.
    const same = cur !== undefined && (next === cur || sameJson(cur, next))
    const replicas = this.replicaSet(next.id)
    if (same) {
      // Nothing new, but a direct store of something we only held in memory still needs the disk.
      if (persist && !this.persisted.has(next.id)) this.persist(next, out)
      return
    }
    this.setJob(next)
    // Placement reacts to the change in this step (a new job is offered within a round trip of
    // its submit), not on the next tick.
    if (this.active.has(next.id)) this.dirty.add(next.id)
    if (persist || replicas.includes(this.members.selfId) || this.persisted.has(next.id)) this.persist(next, out)
    for (const event of jobChangeEvents(cur, next)) out.push({ kind: 'emit', event })
    this.runner.reconcile(next, now, out)
    // Only a job still to be decided: an ended one re-entering the arbiter's wake list kept the
    // node waking every tick for nothing (the simulator's tail: half of all events).
    if (this.active.has(next.id)) this.arbiter.retryNow(next.id, next.spec.count)
    if (!authored) return
    this.gossipOut.add(next.id)
    if (!replicate) return
    // The replicas must have it; nodes running its instances should hear at once (a cancel, a
    // fence), not whenever gossip or the state exchange brings it.
    const to = new Set(replicas)
    for (const a of Object.values(next.allocations)) if (!isTerminalAlloc(a.state)) to.add(a.nodeId)
    to.delete(this.members.selfId)
    // One message object for all of them (messages are never changed once made).
    const update = { type: 'job-update' as const, jobs: [next] }
    for (const n of to) this.send(out, n, update, this.config.storeTimeoutMs, { purpose: 'update' })
  }

  /** Job records from gossip. */
  onGossip(jobs: JobRecord[], now: Millis, out: Effect[]): void {
    for (const j of jobs) this.merge(j, now, out)
  }

  /** The digest of our copy of a job, for the state exchange (kept until the job changes). */
  private digestOf(id: string): string | undefined {
    let d = this.digests.get(id)
    if (d === undefined) {
      const r = this.jobs.get(id)
      if (r === undefined) return undefined
      d = jobDigest(r)
      this.digests.set(id, d)
    }
    return d
  }

  /** Keep a record: the one place that updates the job table and its indexes. */
  private setJob(r: JobRecord): void {
    this.jobs.set(r.id, r)
    this.exchange.noteJob(r)
    // Computed when a state exchange asks (digestOf): a job changes several times between two.
    this.digests.delete(r.id)
    const openClaims = Object.values(r.allocations).some((a) => !isTerminalAlloc(a.state))
    const state = jobState(r)
    if ((state === 'pending' || state === 'running') || (r.cancelled && openClaims)) {
      this.active.add(r.id)
      if (this.mine.version === this.members.liveVersion() && this.arbiter.isArbiterOf(r.id)) this.mine.ids.add(r.id)
    } else {
      this.active.delete(r.id)
      this.mine.ids.delete(r.id)
      this.arbiter.settle(r)
    }
  }

  private persist(r: JobRecord, out: Effect[]): void {
    this.persisted.add(r.id)
    out.push({ kind: 'persist', key: jobKey(r.id), value: r })
  }

  private flushGossip(now: Millis, out: Effect[]): void {
    this.lastFlushAt = now
    if (this.gossipOut.size === 0) return
    const records = [...this.gossipOut].map((id) => this.jobs.get(id)).filter((r): r is JobRecord => r !== undefined)
    this.gossipOut.clear()
    if (this.sampling()) return
    for (const jobs of gossipBatches(records, this.config.gossipBatchBytes)) out.push({ kind: 'publish', msg: { type: 'jobs', jobs } })
  }

  /** Live nodes ranked by rendezvous hash of the job id: the first ones store it. */
  private ranking(jobId: string): NodeId[] {
    return this.rankings.all(jobId, this.members.liveVersion(), this.liveIds)
  }

  private readonly liveIds = (): NodeId[] => this.members.records().filter(live).map((r) => r.id)

  /**
   * Too many live members to gossip to all of them: job changes go only to the nodes concerned
   * (job-exchange.ts) and free capacity is asked for, not announced (capacity-sample.ts).
   */
  sampling(): boolean {
    return this.liveNodes() > this.config.gossipMaxNodes
  }

  /** What the arbiter keeps per instance and run (tests: it must not outlive the jobs). */
  arbiterEntries(): number {
    return this.arbiter.heldEntries()
  }

  /**
   * The active jobs this node arbitrates: kept per live version (who arbitrates moves only when
   * the live set does), so a tick walks these, not every active job it stores or runs.
   */
  private arbitered(): Set<string> {
    const version = this.members.liveVersion()
    if (this.mine.version !== version) {
      this.mine = { version, ids: new Set([...this.active].filter((id) => this.arbiter.isArbiterOf(id))) }
    }
    return this.mine.ids
  }

  private liveNodes(): number {
    const version = this.members.liveVersion()
    if (this.liveCount.version !== version) this.liveCount = { version, count: this.liveIds().length }
    return this.liveCount.count
  }

  private send(out: Effect[], to: NodeId, msg: RpcRequest, timeoutMs: number, p: Pending): number {
    const corr = this.nextCorr()
    this.pending.set(corr, p)
    out.push({ kind: 'send', to, corr, msg, timeoutMs })
    return corr
  }

  private reply(out: Effect[], reqId: number, msg: RpcResponse): void {
    out.push({ kind: 'reply', reqId, msg })
  }
}

export function jobKey(id: string): string {
  return `job/${id}`
}

/** Where a node keeps its drain (null when not draining): it survives a restart. */
export const DRAIN_KEY = 'self/drain'
