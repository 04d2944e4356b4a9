// Jobs without a master, as a pure state machine: this file routes events to the parts and owns
// what they share. One owner per message type (see onRequest and onResponse).
//
// - Storage: a job lives on its storing nodes, the top 3 live nodes by rendezvous hash of its id;
//   every node computes the same set from its membership view (replica-ranking.ts). A submit goes
//   to the first of them, the job's arbiter, and is acknowledged once they all have it on disk
//   (job-submit.ts); when the live set changes, copies follow (replica-repair.ts).
// - Placement: the arbiter decides each job (reconcile.ts, arbiter.ts) and claims each instance
//   attempt for a node at once; the claim is on every storing node's disk before the run starts
//   (job-grants.ts).
// - Running: runner.ts starts its claims if its books have room, reports runs to the storing
//   nodes, and fences stale copies: (index, attempt) names one run.
// - Spreading: a change travels as a delta to the job's storing nodes and runners only, batched
//   per destination and step (job-outbox.ts); the state exchange repairs what was lost
//   (job-exchange.ts); every node's event stream and capacity view come from the activity
//   digests (activity.ts, capacity-view.ts). The job table (job-table.ts) is the one place that
//   changes records.
import { Activity } from './activity.js'
import { Arbiter } from './arbiter.js'
import { CapacityView } from './capacity-view.js'
import { DrainControl } from './drain-control.js'
import { cancelFound, type CancelHost } from './job-cancel.js'
import { live, type JobBook, type JobsStats, type MemberView, type Pending } from './job-book.js'
import { JobExchange } from './job-exchange.js'
import { claimConflicts, Grants } from './job-grants.js'
import { allocKey, isTerminalAlloc, jobState } from './job-merge.js'
import { JobOutbox, type DeltaTag } from './job-outbox.js'
import { allocationId, eventsToTell, toJobStatus } from './job-status.js'
import { holdersOf, JobTable, type ChangeSource } from './job-table.js'
import type { Allocation, ApiRequest, JobDelta, JobRecord, JobStatus, ProcessExit } from './job-types.js'
import { JOBS_DEFAULTS, type JobsConfig } from './jobs-config.js'
import { reasserted } from './partition-policy.js'
import { ReplicaRanking } from './replica-ranking.js'
import { ReplicaRepair } from './replica-repair.js'
import { Retention } from './retention.js'
import { Runner } from './runner.js'
import { Submits } from './job-submit.js'
import type { AllocRef, Effect, GossipMessage, JobEvent, Millis, NodeId, Resources, RpcRequest, RpcResponse } from './types.js'

export { JOBS_DEFAULTS, type JobsConfig, type JobsStats, type MemberView }
export { jobKey } from './job-table.js'

export class Jobs {
  private readonly table: JobTable
  private readonly pending = new Map<number, Pending>()
  private readonly rankings: ReplicaRanking
  private readonly drain: DrainControl
  /**
   * A node that restarted holds job records from its disk, possibly older than the cluster's. It
   * does not arbitrate until a state exchange brought it up to date (or restartHoldMs passed):
   * acting on a stale copy would place attempts the cluster already made, or made otherwise.
   */
  private catchingUp = false
  /** Jobs that changed in this step: the arbiter looks at them at its end (see endStep). */
  private readonly dirty = new Set<string>()
  readonly stats: JobsStats = { submitted: 0, placed: 0, startsRefused: 0, duplicatesStopped: 0, started: 0, replicasRepaired: 0, drainMoves: 0, collected: 0, capacityAsks: 0, noRoomPasses: 0 }
  readonly capacity = new CapacityView()
  private readonly outbox = new JobOutbox()
  private readonly cancelHost: CancelHost = {
    isCollected: (id, now) => this.retention.isCollected(id, now),
    receive: (r, now, out) => this.table.receive(r, now, out),
    author: (d, now, out) => { this.author(d, now, out) },
  }
  private readonly activity: Activity
  private readonly arbiter: Arbiter
  private readonly grants: Grants
  private readonly runner: Runner
  private readonly repair: ReplicaRepair
  private readonly exchange: JobExchange
  private readonly submits: Submits
  private readonly retention: Retention
  /** Live node count, per membership live version. */
  private liveCount = { version: -1, count: 0 }
  private mine = { version: -1, ids: new Set<string>() }

  constructor(
    private readonly members: MemberView,
    private readonly nextCorr: () => number,
    private readonly config: JobsConfig = JOBS_DEFAULTS,
  ) {
    this.activity = new Activity(members.selfId, { intervalMs: config.activityMs, perNodeMs: config.activityPerNodeMs, gatherMs: config.activityGatherMs }, () => this.liveNodes(), config.retentionMs)
    this.retention = new Retention(config.retentionMs)
    this.table = new JobTable({
      stores: (id) => this.replicaSet(id).includes(members.selfId),
      set: (r, active) => this.onSet(r, active),
      changed: (prev, next, by, now, out) => this.onChanged(prev, next, by, now, out),
      collected: (id) => { this.exchange.forgetJob(id); this.arbiter.forget(id, 0) },
      refuses: (r, now) => this.retention.isCollected(r.id, now) || this.retention.expired(r, now),
    })
    const book: JobBook = {
      members, config, stats: this.stats, capacity: this.capacity, outbox: this.outbox,
      get: (id) => this.table.get(id),
      author: (d, now, out) => this.author(d, now, out),
      note: (d, now, out) => this.table.author(d, now, out),
      announce: (event, now, out) => this.activity.authored(event, now, out),
      send: (out, to, msg, timeoutMs, p) => this.send(out, to, msg, timeoutMs, p),
      replicaSet: (id) => this.replicaSet(id),
      touch: (id) => { if (this.table.active.has(id)) this.dirty.add(id) },
    }
    this.rankings = new ReplicaRanking(config.replicas)
    this.drain = new DrainControl(members, config, (out, to, msg, timeoutMs, p) => this.send(out, to, msg, timeoutMs, p))
    this.runner = new Runner(book, () => this.runnerChanged(), (id, out) => {
      for (const n of this.replicaSet(id)) if (n !== members.selfId) this.send(out, n, { type: 'job-fetch', ids: [id] }, config.readTimeoutMs, { purpose: 'refresh', node: n })
    })
    this.grants = new Grants(book, (ref, now, out) => this.runner.start(ref, now, out))
    this.arbiter = new Arbiter(book, this.grants, this.capacity)
    this.repair = new ReplicaRepair(book)
    this.submits = new Submits(book, this.grants, {
      collected: (id, now) => this.retention.isCollected(id, now),
      liveNodes: () => this.liveNodes(),
      ranking: (id) => this.rankings.all(id, this.members.liveVersion(), this.liveIds),
      create: (r, now, out) => {
        this.table.create(r, now, out)
        if (this.arbiter.isArbiterOf(r.id) && !this.holding(now)) this.arbiter.arbitrate(this.table.get(r.id) as JobRecord, now, out)
      },
      persist: (id, out) => this.table.persist(id, out),
      views: () => this.arbiter.views(),
      hold: (id, need, now) => this.runner.hold(id, need, now),
      reserved: (id, node) => this.arbiter.reserved(id, node),
    })
    this.exchange = new JobExchange(book, {
      jobs: this.table.all(), digestOf: (id) => this.table.digestOf(id),
      receive: (r, now, out) => { this.table.receive(r, now, out) },
      caughtUp: () => { this.catchingUp = false },
      collected: (id, now) => this.retention.isCollected(id, now),
      cancelRead: (reqId, id, found, now, out) => cancelFound(this.cancelHost, reqId, id, found, now, out),
    })
  }

  // --- queries --------------------------------------------------------------------------------

  statuses(): JobStatus[] {
    return [...this.table.all().values()].sort((a, b) => a.submittedAt - b.submittedAt || (a.id < b.id ? -1 : 1)).map(toJobStatus)
  }

  status(id: string): JobStatus | undefined {
    const r = this.table.get(id)
    return r === undefined ? undefined : toJobStatus(r)
  }

  record(id: string): JobRecord | undefined {
    return this.table.get(id)
  }

  /** Free capacity by this node's own books: what it declared minus what it runs. */
  free(): Resources {
    return this.runner.free()
  }

  /** Free capacity of another node as this node knows it (its digests and answers). */
  freeOf(id: NodeId, announced: Resources): Resources {
    return id === this.members.selfId ? this.runner.free() : this.capacity.free(id, announced)
  }

  /** Runs of another node as it last said (null: it never did). */
  allocationsOf(id: NodeId): number | null {
    return id === this.members.selfId ? this.runner.count() : this.capacity.allocations(id)
  }

  localCount(): number {
    return this.runner.count()
  }

  /** Requests this node still waits on (replication, updates): a leaving node lets them finish. */
  pendingCount(): number {
    return this.pending.size + this.outbox.size
  }

  /** When this node's drain deadline passes, or null when it is not draining. */
  drainDeadlineAt(): Millis | null {
    return this.drain.deadlineAt()
  }

  /** The nodes that store a job: the top live nodes by rendezvous hash of its id. */
  replicaSet(jobId: string): NodeId[] {
    return this.rankings.top(jobId, this.members.liveVersion(), this.liveIds)
  }

  /**
   * How much per-job state this node keeps, part by part (tests: every part is bounded by the jobs
   * within their retention window, and empty once they are collected).
   */
  footprint(): Record<string, number> {
    const r = this.retention.size()
    return {
      jobs: this.table.size, tombstones: r.tombstones, due: r.due, arbiter: this.arbiter.heldEntries(), grants: this.grants.held(),
      submits: this.submits.held(), pending: this.pending.size, ended: this.activity.remembered(), runner: this.runner.count(), knownRunSets: this.arbiter.knownRunSets(),
    }
  }

  /** What the arbiter and grants keep per instance and run (tests: it must not outlive the jobs). */
  arbiterEntries(): number {
    return this.arbiter.heldEntries() + this.grants.held() + this.submits.held()
  }

  // --- start-up ---------------------------------------------------------------------------------

  /** A drain that was under way when this node stopped goes on after its restart. */
  restoreDrain(deadlineAt: Millis): void {
    this.drain.restore(deadlineAt)
  }

  /** Jobs this node stored before a restart. Its runs died with it: report them lost. */
  load(records: JobRecord[], now: Millis, out: Effect[]): void {
    this.catchingUp = records.length > 0
    for (const r of records) { this.table.load(r); this.exchange.loadedFromDisk(r.id); this.activity.loaded(r.id, jobState(r), now) }
    for (const r of records) {
      for (const a of Object.values(r.allocations)) {
        if (a.nodeId === this.members.selfId && !isTerminalAlloc(a.state)) {
          this.author({ id: r.id, allocs: [{ ...a, state: 'lost', finishedAt: now, reason: 'its node restarted' }] }, now, out)
        }
      }
    }
  }

  // --- events -----------------------------------------------------------------------------------

  onApi(reqId: number, req: ApiRequest, now: Millis, out: Effect[]): void {
    if (req.op === 'submit') this.submits.submit(reqId, req.id, req.spec, req.admit, now, out)
    else if (req.op === 'cancel') this.exchange.get(reqId, req.id, 'cancel', now, out)
    else if (req.op === 'get') this.exchange.get(reqId, req.id, 'api', now, out)
    else if (req.op === 'list') this.exchange.list(reqId, now, out)
    else this.drain.request(reqId, req.node, req.enable, req.deadlineMs, req.transient === true, now, out)
  }

  /** Returns true when the request was one of ours. */
  onRequest(from: NodeId, reqId: number, msg: RpcRequest, now: Millis, out: Effect[]): boolean {
    switch (msg.type) {
      case 'job-sync':
        this.reply(out, reqId, this.exchange.onSync(from, msg.digests))
        return true
      case 'job-fetch':
        this.reply(out, reqId, this.exchange.onFetch(msg.ids, msg.after, now))
        return true
      case 'submit-job':
        this.submits.onSubmitJob(reqId, msg.job, msg.reserved, now, out)
        return true
      // Asked directly to keep a job: write it before answering, whatever our own view of the
      // storing nodes says (the asker's view chose us; the ok is what makes the submit durable).
      case 'store-job': {
        if (msg.reserved !== undefined) this.arbiter.reserved(msg.job.id, msg.reserved)
        const conflicts = this.claimConflicts(from, msg.job.id, Object.values(msg.job.allocations))
        this.table.keep(msg.job, now, out)
        this.startAll(msg.start, now, out)
        this.reply(out, reqId, this.ok(conflicts))
        return true
      }
      case 'job-update':
        for (const j of msg.jobs) this.table.keep(j, now, out)
        this.reply(out, reqId, this.ok())
        return true
      case 'job-delta': {
        if (msg.free !== undefined) this.heardCapacity(from, msg.free, now)
        const want: string[] = []
        const conflicts: string[] = []
        for (const d of msg.deltas) {
          conflicts.push(...this.claimConflicts(from, d.id, d.allocs ?? []))
          if (!this.table.apply(d, now, out) && !want.includes(d.id)) want.push(d.id)
          reasserted(this.table.get(d.id), d.allocs ?? [], this.members.selfId, (a) => this.outbox.add(from, { id: d.id, allocs: [a] }))
        }
        this.startAll(msg.start, now, out)
        this.reply(out, reqId, want.length === 0 ? this.ok(conflicts) : { ...this.ok(conflicts), want })
        return true
      }
      case 'start':
        this.table.receive(msg.job, now, out)
        this.runner.start({ id: msg.job.id, index: msg.index, attempt: msg.attempt }, now, out)
        this.reply(out, reqId, this.ok())
        return true
      case 'drain':
        this.drain.set(msg.enable, msg.deadlineMs, now, out)
        this.reply(out, reqId, { type: 'ok' })
        return true
      case 'capacity':
        this.reply(out, reqId, this.ok())
        return true
      case 'hold':
        this.reply(out, reqId, this.runner.hold(msg.id, msg.resources, now) ? this.ok() : { type: 'error', code: 'no_room', message: 'no room to hold' })
        return true
      default:
        return false
    }
  }

  onResponse(corr: number, from: NodeId, msg: RpcResponse | null, now: Millis, out: Effect[]): void {
    const p = this.pending.get(corr)
    if (p === undefined) return
    this.pending.delete(corr)
    const ok = msg !== null && msg.type === 'ok'
    if (ok && msg.free !== undefined) this.heardCapacity(from, msg.free, now)
    switch (p.purpose) {
      case 'submit':
        this.submits.onForwardAnswer(p.reqId, ok, now, out)
        return
      case 'store':
        for (const id of p.claims) this.grants.answered(id, p.node, ok && msg.conflicts?.includes(id) !== true, now)
        this.submits.stored(p.jobId, p.node, ok, now, out)
        return
      case 'deltas':
        this.onDeltasAnswer(p, ok ? msg : null, now, out)
        return
      case 'start':
        this.grants.startAnswered(p.allocId, ok)
        if (ok) this.capacity.settle(p.node, p.allocId)
        this.submits.stored(p.jobId, p.node, ok, now, out)
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
        if (p.admit !== undefined) this.submits.admitAnswered(p.admit, p.node, ok, now, out)
        return
      case 'hold':
        this.submits.holdAnswered(p.admit, p.node, ok, now, out)
        return
      case 'refresh':
        if (msg?.type === 'jobs') for (const j of msg.jobs) this.table.receive(j, now, out)
        return
      case 'sync-push':
        return
    }
  }

  /** A batch of deltas answered: each delta's waiter hears; jobs the node lacked go whole. */
  private onDeltasAnswer(p: Extract<Pending, { purpose: 'deltas' }>, msg: Extract<RpcResponse, { type: 'ok' }> | null, now: Millis, out: Effect[]): void {
    const want = new Set(msg?.want ?? [])
    const resend: Array<{ jobId: string; tag: DeltaTag }> = []
    for (const t of p.tags) {
      if (want.has(t.jobId)) { resend.push(t); continue }
      this.deltaAnswered(t.tag, p.node, msg !== null && (t.tag.kind !== 'grant' || msg.conflicts?.includes(t.tag.allocId) !== true), now, out)
    }
    if (resend.length === 0) return
    // The node lacks these jobs: our whole records (which hold every delta we sent) go instead.
    const jobs = [...want].map((id) => this.table.get(id)).filter((r): r is JobRecord => r !== undefined)
    if (jobs.length === 0) { for (const t of resend) this.deltaAnswered(t.tag, p.node, false, now, out); return }
    this.send(out, p.node, { type: 'job-update', jobs }, this.config.storeTimeoutMs, { purpose: 'deltas', node: p.node, tags: resend })
  }

  private deltaAnswered(tag: DeltaTag, node: NodeId, ok: boolean, now: Millis, out: Effect[]): void {
    if (tag.kind === 'end') this.runner.onEndAnswer(tag.allocId, node, ok, now, out)
    else if (tag.kind === 'grant') this.grants.answered(tag.allocId, node, ok, now)
  }

  /** Another node's activity digest: its events on our stream, its capacity in our view. */
  onActivity(msg: Extract<GossipMessage, { type: 'activity' }>, now: Millis, out: Effect[]): void {
    this.activity.heard(msg, now, out)
    this.heardCapacity(msg.node, msg.free, now, msg.allocations)
  }

  /** This node's event loop came back from a stall: starts wait until it caught up (Runner.resumed). */
  resumed(now: Millis): void {
    this.runner.resumed(now)
  }

  /** A member's probe carried its free capacity (membership.ts). */
  heardFromProbe(node: NodeId, free: Resources, now: Millis): void {
    this.heardCapacity(node, free, now)
  }

  /** A node said what it has free (a digest, a message, an answer): room freed lets waiting instances try now. */
  private heardCapacity(node: NodeId, free: Resources, now: Millis, allocations: number | null = null): void {
    if (node === this.members.selfId) return
    const before = this.capacity.free(node, free)
    this.capacity.heardFrom(node, free, allocations, now)
    if (free.cpu > before.cpu || free.memoryMb > before.memoryMb) this.retryWaiting()
  }

  onProcessExit(exit: ProcessExit, now: Millis, out: Effect[]): void {
    this.runner.onProcessExit(exit, now, out)
  }

  onTick(now: Millis, out: Effect[], due = true): void {
    this.retention.sweepTombstones(now); this.activity.sweep(now)
    if (!due) return
    this.arbiter.noteTick(now)
    this.runner.onTick(now, this.drain.deadlineAt(), out)
    this.repair.check(this.table, out)
    this.arbitrateAll(now, out)
    this.exchange.onTick(now, this.catchingUp, out)
    this.collectDue(now, out)
  }

  /** Jobs past their retention window: gone from here, with what their runs left on this node. */
  private collectDue(now: Millis, out: Effect[]): void {
    for (const id of this.retention.takeDue(now, (x) => this.table.get(x))) {
      const r = this.table.get(id) as JobRecord
      for (const a of Object.values(r.allocations)) if (a.nodeId === this.members.selfId) out.push({ kind: 'remove-run', allocId: allocationId(id, a.index, a.attempt) })
      this.table.collect(id, out)
      this.retention.collected(id, now)
      this.arbiter.forget(id, r.spec.count)
      this.grants.drop(id)
      this.runner.forgetJob(id)
      this.activity.forget(id); this.rankings.forget(id)
      this.stats.collected++
    }
  }

  /** Whether a job was collected here lately (reads answer 404 `collected`; a resubmit gets its id). */
  collected(id: string, now: Millis): boolean {
    return this.retention.isCollected(id, now)
  }

  /**
   * The earliest time onTick could do anything (-Infinity: at the next tick). A runtime may tick
   * anyway; the simulator skips the ticks before it (they would change nothing).
   */
  wakeAt(): Millis {
    if (this.arbiter.upSinceAt() === null || this.catchingUp || this.dirty.size > 0 || this.repair.due()) return -Infinity
    const mine = this.arbitered()
    if (mine.size > 0 && this.arbiter.stale()) return -Infinity
    const jobsAt = this.arbiter.earliestWake(this.table.active, mine)
    return Math.min(jobsAt, this.exchange.wakeAt(), this.runner.wakeAt(this.drain.deadlineAt()), this.grants.wakeAt(), this.activity.wakeAt(), this.retention.wakeAt())
  }

  /**
   * A member became live or stopped being live. Its runs are lost now, not on the next tick, and
   * copies owed to new storing nodes go out now: every step saved here is time a job is down.
   */
  onLiveChange(now: Millis, out: Effect[]): void {
    for (const r of this.members.records()) if (!live(r)) this.capacity.forget(r.id)
    this.repair.check(this.table, out)
    this.arbitrateAll(now, out)
  }

  /**
   * End of a step: arbitrate the jobs that changed in it, let grants send what they need, and send
   * this step's deltas (one message per destination) and a due activity digest.
   */
  endStep(now: Millis, out: Effect[]): void {
    if (this.dirty.size > 0) {
      const ids = [...this.dirty]
      this.dirty.clear()
      if (!this.holding(now)) {
        for (const id of ids) {
          const r = this.table.get(id)
          if (r !== undefined && this.table.active.has(id) && this.arbiter.isArbiterOf(id)) this.arbiter.arbitrate(r, now, out)
        }
      }
    }
    this.grants.flush(now, out)
    const batches = this.outbox.take()
    const free = batches.length === 0 ? undefined : this.runner.free()
    for (const b of batches) {
      this.send(out, b.to, { type: 'job-delta', deltas: b.deltas, free }, this.config.storeTimeoutMs, { purpose: 'deltas', node: b.to, tags: b.tags })
    }
    if (this.activity.due(now)) this.activity.flush(now, this.runner.free(), this.runner.count(), out)
  }

  private startAll(refs: AllocRef[] | undefined, now: Millis, out: Effect[]): void {
    for (const ref of refs ?? []) this.runner.start(ref, now, out)
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
    for (const id of this.dirty) this.arbiter.changed(id)
    if (this.dirty.size > 0) this.dirty.clear()
    if (this.holding(now) || this.arbiter.nothingDue(this.table.active, this.arbitered(), now)) return
    for (const id of [...this.arbitered()]) {
      const r = this.table.get(id)
      if (r !== undefined && this.table.active.has(id)) this.arbiter.onTick(r, now, out)
    }
  }

  // --- changes ----------------------------------------------------------------------------------

  /** Our change: merged, and sent to the job's storing nodes and runners with this step's batch. */
  private author(d: JobDelta, now: Millis, out: Effect[]): JobRecord | undefined {
    const r = this.table.author(d, now, out)
    if (r === undefined) return undefined
    for (const n of holdersOf(r, this.replicaSet(r.id), this.members.selfId)) this.outbox.add(n, d)
    return r
  }

  private onSet(r: JobRecord, active: boolean): void {
    this.exchange.noteJob(r)
    if (active) {
      if (this.mine.version === this.members.liveVersion() && this.arbiter.isArbiterOf(r.id)) this.mine.ids.add(r.id)
    } else {
      this.mine.ids.delete(r.id)
      this.arbiter.settle(r)
      this.retention.noteSet(r)
    }
  }

  private onChanged(prev: JobRecord | undefined, next: JobRecord, by: ChangeSource, now: Millis, out: Effect[]): void {
    this.tellEvents(prev, next, by, now, out)
    if (this.table.active.has(next.id)) this.dirty.add(next.id)
    this.runner.reconcile(next, now, out)
    this.grants.settle(next)
    // Claims that ended no longer count against their node's capacity in our view.
    for (const k in next.allocations) {
      const a = next.allocations[k] as JobRecord['allocations'][string]
      if (isTerminalAlloc(a.state) && (prev === undefined || !isTerminalAlloc(prev.allocations[allocKey(a.index, a.attempt)]?.state ?? 'claimed'))) {
        this.capacity.settle(a.nodeId, allocationId(next.id, a.index, a.attempt))
      }
    }
    // Only a job still to be decided: an ended one re-entering the arbiter's wake list kept the
    // node waking every tick for nothing.
    if (this.table.active.has(next.id)) {
      if (this.replicaSet(next.id).includes(this.members.selfId)) this.arbiter.noteRuns(next)
      this.arbiter.retryNow(next.id, next.spec.count)
    }
  }

  /**
   * Every event reaches every node once, through one author (activity.ts): the node that made
   * the change, except for the end of a run, which the job's arbiter tells when the end reaches
   * its copy: the runner takes the end only once a storing node has it, and may die before it
   * could tell anyone, while the storing nodes have it for good.
   */
  private tellEvents(prev: JobRecord | undefined, next: JobRecord, by: ChangeSource, now: Millis, out: Effect[]): void {
    // A node that restarted tells nothing of what its disk says before it caught up: that copy may
    // be old (a job that succeeded elsewhere meanwhile would be told as pending again).
    if (this.catchingUp) return
    const arbiter = this.arbiter.isArbiterOf(next.id)
    for (const event of eventsToTell(prev, next, by === 'ours', arbiter, this.members.selfRecord().name)) this.activity.authored(event, now, out)
  }

  /** Our runs changed: our capacity in our own view, and in our next digest. */
  private runnerChanged(): void {
    const before = this.capacity.free(this.members.selfId, this.runner.free())
    const free = this.runner.free()
    this.activity.capacity()
    this.capacity.own(this.members.selfId, free, this.runner.count())
    if (free.cpu > before.cpu || free.memoryMb > before.memoryMb) this.retryWaiting()
  }

  /** Instances waiting for room are ranked again at the end of this step. */
  private retryWaiting(): void {
    for (const id of this.arbiter.retryWaiting()) if (this.table.active.has(id)) this.dirty.add(id)
  }

  /** An answer carries our free capacity: capacity rides on answers. */
  private ok(conflicts: readonly string[] = []): Extract<RpcResponse, { type: 'ok' }> {
    return conflicts.length === 0 ? { type: 'ok', free: this.runner.free() } : { type: 'ok', free: this.runner.free(), conflicts: [...conflicts] }
  }

  /** Claims `from` sent that we hold for another node: refused, and our version goes back to it (job-grants.ts). */
  private claimConflicts(from: NodeId, id: string, sent: Iterable<Allocation>): string[] {
    return claimConflicts(this.table.get(id), sent, (a) => this.outbox.add(from, { id, allocs: [a] }))
  }

  // --- helpers ------------------------------------------------------------------------------------

  private readonly liveIds = (): NodeId[] => this.members.records().filter(live).map((r) => r.id)

  /**
   * The active jobs this node arbitrates: kept per live version (who arbitrates moves only when
   * the live set does), so a tick walks these, not every active job it stores or runs.
   */
  private arbitered(): Set<string> {
    const version = this.members.liveVersion()
    if (this.mine.version !== version) {
      this.mine = { version, ids: new Set([...this.table.active].filter((id) => this.arbiter.isArbiterOf(id))) }
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

export { DRAIN_KEY } from './drain-control.js'

export type { JobEvent }
