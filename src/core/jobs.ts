// Jobs without a master, as a pure state machine.
//
// - Storage: a job lives on its replica set, the top 3 live nodes by rendezvous hash of its id.
//   Every node computes the same set from its membership view. The node taking a submit stores
//   the job there over direct requests and acknowledges only once they all have it on disk.
// - Placement: the first live replica is the job's arbiter. It ranks nodes (src/placement) and
//   offers each instance attempt to the best candidate only: O(1) messages per instance. The
//   candidate reserves only if its own true free capacity admits the job. The arbiter records the
//   grant, replicates it to the other replicas, and only then tells the node to start, so the next
//   replica, which takes over when the arbiter dies, knows every grant.
// - Fencing: (index, attempt) names one run. A node running an attempt that the merged record
//   gives to another node, marks lost, or has superseded by a newer attempt, stops its copy.
// - Spread: every change is gossiped in batches to all nodes (so any node answers for any job),
//   and the periodic state exchange compares digests to repair what gossip lost.
import { admits, rankNodes } from '../placement/index.js'
import { allocKey, duplicateKey, failedRuns, isTerminalAlloc, jobDigest, jobState, latestAllocations, maxAttempts, mergeJob } from './job-merge.js'
import { allocationId, gossipBatches, jobChangeEvents, toJobStatus, toNodeView } from './job-status.js'
import type { Allocation, AllocState, ApiRequest, DuplicateRun, JobRecord, JobSpec, JobStatus, ProcessExit } from './job-types.js'
import { JOBS_DEFAULTS, type JobsConfig } from './jobs-config.js'
import { rankFor, ReplicaRanking } from './replica-ranking.js'
import type { Effect, JobSync, Millis, NodeId, NodeRecord, Resources, RpcRequest, RpcResponse } from './types.js'

export { JOBS_DEFAULTS, type JobsConfig }

/** What the jobs machine needs to know of membership. */
export interface MemberView {
  readonly selfId: NodeId
  records(): NodeRecord[]
  record(id: NodeId): NodeRecord | undefined
  selfRecord(): NodeRecord
  /** Change this node's own drain flag (membership announces it). */
  setDraining(draining: boolean, now: Millis, out: Effect[]): void
}

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

interface Submit {
  reqId: number
  record: JobRecord
  ranking: NodeId[]
  next: number
  need: number
  acks: Set<NodeId>
  inflight: number
}

type Pending =
  | { purpose: 'store'; reqId: number; node: NodeId }
  | { purpose: 'offer'; jobId: string; index: number; attempt: number; node: NodeId; replaces?: number }
  | { purpose: 'grant'; grantId: string }
  | { purpose: 'start'; jobId: string; index: number; attempt: number }
  | { purpose: 'update' }
  | { purpose: 'sync-push' }
  | { purpose: 'drain'; reqId: number; node: NodeId }
  | { purpose: 'repair'; node: NodeId; ids: string[] }

interface Grant {
  jobId: string
  alloc: Allocation
  waiting: number
}

export interface JobsStats {
  submitted: number
  placed: number
  offersRejected: number
  duplicatesStopped: number
  started: number
  /** Job copies sent to a node that became one of its storing nodes. */
  replicasRepaired: number
  /** Runs moved off a draining node (a replacement ran first). */
  drainMoves: number
  /** Offers whose answer never came (dropped after twice the offer timeout). */
  offersLost: number
}

const live = (r: NodeRecord | undefined): boolean => r !== undefined && (r.state === 'alive' || r.state === 'suspect')

export class Jobs {
  private readonly jobs = new Map<string, JobRecord>()
  private readonly local = new Map<string, LocalAlloc>()
  private readonly submits = new Map<number, Submit>()
  private readonly pending = new Map<number, Pending>()
  /** Offers in flight, per instance: the request's corr and when it went out. */
  private readonly offers = new Map<string, { corr: number; at: Millis }>()
  private readonly grants = new Map<string, Grant>()
  private readonly startSentAt = new Map<string, Millis>()
  /** Claims whose node refused the start: when it first did. */
  private readonly refusedSince = new Map<string, Millis>()
  private readonly rejectedUntil = new Map<string, Millis>()
  private readonly nextTryAt = new Map<string, Millis>()
  private readonly gossipOut = new Set<string>()
  /** Jobs this node keeps on disk (it was a replica, or was asked to store them). */
  private readonly persisted = new Set<string>()
  /** Jobs the arbiter loop still has to look at: not finished, or cancelled with open claims. */
  private readonly active = new Set<string>()
  /** Digest of each job as we hold it, so a merge hashes only the new copy. */
  private readonly digests = new Map<string, string>()
  private readonly rankings = new ReplicaRanking()
  private capacityDirty = true
  /** While this node drains: when its remaining runs are stopped and placed elsewhere. */
  private drainDeadline: Millis | null = null
  /** When this node's first tick came: a bound on how long a member can be unknown to it. */
  private upSince: Millis | null = null
  /**
   * A node that restarted holds job records from its disk, possibly older than the cluster's. It
   * does not arbitrate until a state exchange brought it up to date (or restartHoldMs passed):
   * acting on a stale copy would place attempts the cluster already made, or made otherwise.
   */
  private catchingUp = false
  /** The live set the replica sets were last checked against (replica repair). */
  private repairLive: NodeId[] | null = null
  /** Copies owed to nodes that became storing nodes: node -> job ids, sent in batches. */
  private readonly repairs = new Map<NodeId, Set<string>>()
  private readonly repairing = new Set<NodeId>()
  readonly stats: JobsStats = { submitted: 0, placed: 0, offersRejected: 0, duplicatesStopped: 0, started: 0, replicasRepaired: 0, drainMoves: 0, offersLost: 0 }

  constructor(
    private readonly members: MemberView,
    private readonly nextCorr: () => number,
    private readonly config: JobsConfig = JOBS_DEFAULTS,
  ) {}

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
    const total = this.members.selfRecord().resources.total
    let cpu = total.cpu
    let memoryMb = total.memoryMb
    for (const a of this.local.values()) { cpu -= a.resources.cpu; memoryMb -= a.resources.memoryMb }
    return { cpu: Math.max(0, round(cpu)), memoryMb: Math.max(0, round(memoryMb)) }
  }

  localCount(): number {
    return this.local.size
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
    return this.ranking(jobId).slice(0, this.config.replicas)
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
      this.setJob(r, jobDigest(r))
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
    if (req.op === 'submit') this.submit(reqId, req.id, req.spec, now, out)
    else if (req.op === 'cancel') this.cancel(reqId, req.id, now, out)
    else this.drainRequest(reqId, req.node, req.enable, req.deadlineMs, req.transient === true, now, out)
  }

  /** Returns true when the request was one of ours. */
  onRequest(reqId: number, msg: RpcRequest, now: Millis, out: Effect[]): boolean {
    switch (msg.type) {
      // Asked directly to keep a job: write it before answering, whatever our own view of the
      // replica set says (the asker's view chose us; the ok is what makes the submit durable).
      case 'store-job':
        this.merge(msg.job, now, out, false, true, true)
        this.reply(out, reqId, { type: 'ok' })
        return true
      case 'job-update':
        for (const j of msg.jobs) this.merge(j, now, out, false, true, true)
        this.reply(out, reqId, { type: 'ok' })
        return true
      case 'offer':
        this.reply(out, reqId, this.onOffer(msg.jobId, msg.index, msg.attempt, msg.resources, now))
        return true
      case 'start':
        this.reply(out, reqId, this.onStart(msg.job, msg.alloc, now, out))
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
      case 'store': {
        const s = this.submits.get(p.reqId)
        if (s === undefined) return
        s.inflight--
        if (ok) s.acks.add(p.node)
        this.fillSubmit(s, now, out)
        return
      }
      case 'offer': {
        const key = `${p.jobId}/${p.index}`
        this.offers.delete(key)
        if (ok) this.granted(p.jobId, p.index, p.attempt, p.node, p.replaces, now, out)
        else {
          this.stats.offersRejected++
          this.rejectedUntil.set(`${key}@${p.node}`, now + this.config.rejectBackoffMs)
        }
        return
      }
      case 'grant': {
        const g = this.grants.get(p.grantId)
        if (g === undefined) return
        if (--g.waiting <= 0) this.sendStart(p.grantId, g, now, out)
        return
      }
      case 'drain': {
        const name = this.members.record(p.node)?.name ?? p.node
        out.push({ kind: 'api-reply', reqId: p.reqId, reply: ok
          ? { status: 202, body: { id: p.node, name, draining: true } }
          : { status: 503, body: { error: { code: 'unavailable', message: `node ${name} did not take the drain request${msg?.type === 'error' ? `: ${msg.message}` : ''}; nothing changed` } } } })
        return
      }
      case 'repair':
        this.repairing.delete(p.node)
        if (ok) this.stats.replicasRepaired += p.ids.length
        else {
          // Owed still, while it is a storing node: sent again on a later tick.
          const owed = this.repairs.get(p.node) ?? new Set<string>()
          for (const id of p.ids) owed.add(id)
          this.repairs.set(p.node, owed)
        }
        return
      case 'start': {
        // The node turned the start down: its reservation expired (the grant took long) and it has
        // no room right now. The start is re-sent (claimResendMs) and usually taken once room
        // frees; a claim refused for claimRefusedLimitMs will not run: close it so the instance
        // is placed again (a refused start is not the job's failure).
        const id = allocationId(p.jobId, p.index, p.attempt)
        if (msg?.type !== 'reject') {
          if (msg !== null) this.refusedSince.delete(id)
          return
        }
        const since = this.refusedSince.get(id)
        if (since === undefined) { this.refusedSince.set(id, now); return }
        if (now - since < this.config.claimRefusedLimitMs) return
        this.refusedSince.delete(id)
        const r = this.jobs.get(p.jobId)
        const a = r?.allocations[allocKey(p.index, p.attempt)]
        if (r === undefined || a?.state !== 'claimed') return
        this.update(p.jobId, r.cancelled
          ? { ...a, state: 'cancelled', finishedAt: now, reason: 'job cancelled before it started' }
          : { ...a, state: 'lost', finishedAt: now, reason: `node ${a.nodeName} refused the start: ${msg.reason}` }, now, out)
        return
      }
      case 'update':
      case 'sync-push':
        return
    }
  }

  onProcessExit(exit: ProcessExit, now: Millis, out: Effect[]): void {
    const la = this.local.get(exit.allocId)
    if (la === undefined) return
    this.local.delete(exit.allocId)
    this.capacityDirty = true
    // A fenced copy was a duplicate, and a moved one was replaced: the record already says how
    // this run ended.
    if (la.stopping === 'fenced' || la.stopping === 'moved') return
    const r = this.jobs.get(la.jobId)
    const cur = r?.allocations[allocKey(la.index, la.attempt)]
    if (cur === undefined) return
    if (la.stopping === 'drain') {
      // Lost, not failed: a drain must not use up the job's restarts. The arbiter places it again.
      this.update(la.jobId, { ...cur, state: 'lost', exitCode: exit.exitCode, finishedAt: now, reason: `its node ${this.members.selfRecord().name} drained; the drain deadline passed` }, now, out)
      return
    }
    const state: AllocState = la.stopping === 'cancel' ? 'cancelled' : exit.exitCode === 0 && exit.reason === 'exited' ? 'succeeded' : 'failed'
    const reason = exit.reason === 'exited' ? (exit.exitCode === 0 ? undefined : `exited with ${exit.exitCode ?? exit.signal}`) : exit.message ?? exit.reason
    this.update(la.jobId, { ...cur, state, exitCode: exit.exitCode, finishedAt: now, ...(reason === undefined ? {} : { reason }) }, now, out)
  }

  onTick(now: Millis, out: Effect[]): void {
    this.upSince ??= now
    for (const [id, la] of this.local) {
      if (la.state === 'reserved' && now - la.since > this.config.reservationTtlMs) {
        this.local.delete(id)
        this.capacityDirty = true
      }
    }
    if (this.drainDeadline !== null && now >= this.drainDeadline) {
      for (const [id, la] of this.local) {
        if (la.state !== 'running' || la.stopping !== undefined) continue
        la.stopping = 'drain'
        out.push({ kind: 'kill-process', allocId: id, reason: 'killed' })
      }
    }
    this.checkReplicas(out)
    if (this.catchingUp && now - this.upSince <= this.config.restartHoldMs) {
      this.flushGossip(out)
      return
    }
    this.catchingUp = false
    for (const id of [...this.active]) {
      const r = this.jobs.get(id)
      if (r !== undefined && this.arbiterOf(id) === this.members.selfId) this.arbitrate(r, now, out)
    }
    this.flushGossip(out)
  }

  /** Our free capacity changed since the last call (the node core then re-announces it). */
  takeCapacityChange(): boolean {
    const d = this.capacityDirty
    this.capacityDirty = false
    return d
  }

  // --- the job part of the state exchange -----------------------------------------------------

  syncDigests(): JobSync {
    const digests: Record<string, string> = {}
    for (const [id, d] of this.digests) digests[id] = d
    return { digests }
  }

  /** Answer a peer's digests: records it lacks or differs on, and ids we want from it. */
  onSyncRequest(sync: JobSync): { jobs: JobRecord[]; want: string[] } {
    const jobs: JobRecord[] = []
    const want: string[] = []
    for (const [id, r] of this.jobs) if (sync.digests[id] !== this.digests.get(id)) jobs.push(r)
    for (const [id, d] of Object.entries(sync.digests)) {
      if (this.digests.get(id) !== d) want.push(id)
    }
    return { jobs, want }
  }

  onSyncResponse(from: NodeId, jobs: JobRecord[], want: string[], now: Millis, out: Effect[]): void {
    for (const j of jobs) this.merge(j, now, out)
    this.catchingUp = false
    const push = want.map((id) => this.jobs.get(id)).filter((r): r is JobRecord => r !== undefined)
    if (push.length > 0) this.send(out, from, { type: 'job-update', jobs: push }, this.config.storeTimeoutMs, { purpose: 'sync-push' })
  }

  // --- submit and cancel ------------------------------------------------------------------------

  private submit(reqId: number, id: string, spec: JobSpec, now: Millis, out: Effect[]): void {
    if (this.jobs.has(id)) {
      // Idempotency: the same key gives the same id, on any node; nothing new is created.
      out.push({ kind: 'api-reply', reqId, reply: { status: 201, body: { id } } })
      return
    }
    const ranking = this.ranking(id)
    const s: Submit = {
      reqId, ranking, next: 0, need: Math.min(this.config.replicas, ranking.length), acks: new Set(), inflight: 0,
      record: { id, spec, submittedAt: now, cancelled: false, allocations: {}, pendingReason: '', reasonVersion: 0 },
    }
    this.submits.set(reqId, s)
    this.fillSubmit(s, now, out)
  }

  /** Ask more replicas until enough have the job on disk; a failed one is replaced by the next in rank. */
  private fillSubmit(s: Submit, now: Millis, out: Effect[]): void {
    while (s.acks.size + s.inflight < s.need && s.next < s.ranking.length) {
      const node = s.ranking[s.next++] as NodeId
      if (node === this.members.selfId) {
        this.persist(s.record, out)
        s.acks.add(node)
      } else {
        s.inflight++
        this.send(out, node, { type: 'store-job', job: s.record }, this.config.storeTimeoutMs, { purpose: 'store', reqId: s.reqId, node })
      }
    }
    if (s.acks.size >= s.need && s.need > 0) {
      this.submits.delete(s.reqId)
      this.stats.submitted++
      // The replicas hold exactly this record already (they just acknowledged it): only gossip it.
      this.merge(s.record, now, out, true, false)
      out.push({ kind: 'api-reply', reqId: s.reqId, reply: { status: 201, body: { id: s.record.id } } })
    } else if (s.inflight === 0) {
      this.submits.delete(s.reqId)
      out.push({ kind: 'api-reply', reqId: s.reqId, reply: { status: 503, body: { error: {
        code: 'unavailable', message: `could store the job on ${s.acks.size} of ${s.need} nodes; nothing was acknowledged`,
      } } } })
    }
  }

  private cancel(reqId: number, id: string, now: Millis, out: Effect[]): void {
    const r = this.jobs.get(id)
    if (r === undefined) {
      out.push({ kind: 'api-reply', reqId, reply: { status: 404, body: { error: { code: 'not_found', message: `no job ${id}` } } } })
      return
    }
    if (!r.cancelled) this.author({ ...r, cancelled: true }, now, out)
    out.push({ kind: 'api-reply', reqId, reply: { status: 202, body: { id, state: 'cancelled' } } })
  }

  // --- drain and replica repair ------------------------------------------------------------------

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

  /**
   * Replica repair. When the live set changes, a job's storing nodes (top 3 by rendezvous hash)
   * may change: a node that became one writes its copy to disk, and a node that stored the job
   * before and still does sends its copy to each newcomer, which acknowledges once it is on disk.
   */
  private checkReplicas(out: Effect[]): void {
    const liveIds = this.members.records().filter(live).map((r) => r.id)
    const prev = this.repairLive
    if (prev !== null && prev.length === liveIds.length && prev.every((id, i) => id === liveIds[i])) {
      this.sendRepairs(out)
      return
    }
    this.repairLive = liveIds
    if (prev === null) return
    const self = this.members.selfId
    for (const [id, r] of this.jobs) {
      const now3 = this.replicaSet(id)
      if (!now3.includes(self)) continue
      if (!this.persisted.has(id)) this.persist(r, out)
      const before = rankFor(id, prev).slice(0, this.config.replicas)
      if (!before.includes(self)) continue
      for (const n of now3) {
        if (n === self || before.includes(n)) continue
        const owed = this.repairs.get(n) ?? new Set<string>()
        owed.add(id)
        this.repairs.set(n, owed)
      }
    }
    // Owed copies to nodes that are no longer storing nodes (or alive) are dropped.
    for (const [n, ids] of this.repairs) {
      if (!live(this.members.record(n))) { this.repairs.delete(n); continue }
      for (const id of ids) if (!this.replicaSet(id).includes(n)) ids.delete(id)
      if (ids.size === 0) this.repairs.delete(n)
    }
    this.sendRepairs(out)
  }

  /** One batch in flight per node, each under the gossip batch size. */
  private sendRepairs(out: Effect[]): void {
    for (const [n, ids] of this.repairs) {
      if (this.repairing.has(n)) continue
      const records = [...ids].map((id) => this.jobs.get(id)).filter((r): r is JobRecord => r !== undefined)
      const batch = gossipBatches(records, this.config.gossipBatchBytes)[0] ?? []
      for (const r of batch) ids.delete(r.id)
      if (ids.size === 0) this.repairs.delete(n)
      if (batch.length === 0) continue
      this.repairing.add(n)
      this.send(out, n, { type: 'job-update', jobs: batch }, this.config.storeTimeoutMs, { purpose: 'repair', node: n, ids: batch.map((r) => r.id) })
    }
  }

  // --- the arbiter --------------------------------------------------------------------------------

  /**
   * Is the node of a run gone, so its run is lost? Dead or left in our view. A node we do not know
   * at all is gone only once we have been up long enough to have heard of every member (a node
   * that just restarted knows nobody yet, and must not declare every run elsewhere lost).
   */
  private gone(id: NodeId, now: Millis): boolean {
    const r = this.members.record(id)
    if (r !== undefined) return !live(r)
    return this.upSince !== null && now - this.upSince > this.config.unknownNodeGraceMs
  }

  private arbiterOf(jobId: string): NodeId | undefined {
    return this.replicaSet(jobId)[0]
  }

  private arbitrate(r: JobRecord, now: Millis, out: Effect[]): void {
    if (r.cancelled) {
      // Claims that never started will not start now (the node refuses a start for a cancelled
      // job): close them. A run that did start is stopped by its node, which records the end.
      for (const a of Object.values(r.allocations)) {
        if (a.state === 'claimed') this.update(r.id, { ...a, state: 'cancelled', finishedAt: now, reason: 'job cancelled before it started' }, now, out)
        else if (a.state === 'running' && this.gone(a.nodeId, now)) {
          this.update(r.id, { ...a, state: 'lost', finishedAt: now, reason: `node ${a.nodeName} is ${this.members.record(a.nodeId)?.state ?? 'gone'}` }, now, out)
        }
      }
      return
    }
    const state = jobState(r)
    if (state === 'succeeded' || state === 'failed') return
    const latest = latestAllocations(r)
    const views = this.members.records().map(toNodeView)
    const holders = new Set<NodeId>()
    for (const a of latest.values()) if (!isTerminalAlloc(a.state)) holders.add(a.nodeId)
    for (let index = 0; index < r.spec.count; index++) {
      const last = latest.get(index)
      const key = `${r.id}/${index}`
      // Open runs of this instance: one, or two while a drain moves it (the old one and its replacement).
      let open = Object.values(r.allocations).filter((a) => a.index === index && !isTerminalAlloc(a.state))
      for (const a of open) {
        if (this.gone(a.nodeId, now)) {
          this.update(r.id, { ...a, state: 'lost', finishedAt: now, reason: `node ${a.nodeName} is ${this.members.record(a.nodeId)?.state ?? 'gone'}` }, now, out)
        }
      }
      open = open.filter((a) => !this.gone(a.nodeId, now)).sort((a, b) => b.attempt - a.attempt)
      const current = open[0]
      if (current !== undefined) {
        if (current.state === 'claimed') this.resendStart(r, current, now, out)
        const old = current.replaces === undefined ? undefined : open.find((a) => a.attempt === current.replaces)
        if (current.state === 'running' && old !== undefined) {
          // The replacement runs: now the old copy on the draining node may stop.
          this.stats.drainMoves++
          this.update(r.id, { ...old, state: 'cancelled', finishedAt: now, reason: `moved to ${current.nodeName}: node ${old.nodeName} is draining` }, now, out)
        }
        if (current.state === 'running' && r.spec.type === 'service' && this.members.record(current.nodeId)?.draining === true) {
          this.move(r, current, views, holders, now, out)
        }
        continue
      }
      if (last?.state === 'succeeded' && r.spec.type === 'batch') continue
      if (r.spec.type === 'batch' && Object.values(r.allocations).some((a) => a.index === index && a.state === 'succeeded')) continue
      if (r.spec.type === 'batch' && failedRuns(r, index) >= maxAttempts(r)) continue
      if (this.offerInFlight(key, now)) continue
      if (last !== undefined && (last.state === 'failed' || last.state === 'succeeded') && now < (last.finishedAt ?? 0) + r.spec.restart.backoffMs) continue
      if ((this.nextTryAt.get(key) ?? 0) > now) continue
      const attempt = Math.max(0, ...Object.values(r.allocations).filter((a) => a.index === index).map((a) => a.attempt)) + 1
      const job = { id: r.id, resources: r.spec.resources, constraints: r.spec.constraints }
      const allocKeyStr = `${r.id}/${index}/${attempt}`
      const others = new Set([...holders].filter((n) => n !== last?.nodeId))
      let ranked = rankNodes(job, allocKeyStr, views, { exclude: others })
      if (ranked.candidates.length === 0 && others.size > 0) ranked = rankNodes(job, allocKeyStr, views)
      const candidate = ranked.candidates.find((c) => (this.rejectedUntil.get(`${key}@${c.nodeId}`) ?? 0) <= now)
      if (candidate === undefined) {
        const reason = ranked.pendingReason ?? 'every fitting node turned the offer down; retrying'
        if (reason !== r.pendingReason) this.author({ ...r, pendingReason: reason, reasonVersion: r.reasonVersion + 1 }, now, out)
        this.nextTryAt.set(key, now + this.config.placementRetryMs)
        continue
      }
      const corr = this.send(out, candidate.nodeId, { type: 'offer', jobId: r.id, index, attempt, resources: r.spec.resources }, this.config.offerTimeoutMs,
        { purpose: 'offer', jobId: r.id, index, attempt, node: candidate.nodeId })
      this.offers.set(key, { corr, at: now })
      holders.add(candidate.nodeId)
    }
  }

  /**
   * A service run on a draining node: place a replacement elsewhere first; the old copy stops
   * once the replacement runs (see arbitrate). Nowhere to go: it stays until the drain deadline.
   */
  private move(r: JobRecord, from: Allocation, views: ReturnType<typeof toNodeView>[], holders: Set<NodeId>, now: Millis, out: Effect[]): void {
    const key = `${r.id}/${from.index}`
    if (this.offerInFlight(key, now) || (this.nextTryAt.get(key) ?? 0) > now) return
    const attempt = Math.max(0, ...Object.values(r.allocations).filter((a) => a.index === from.index).map((a) => a.attempt)) + 1
    const job = { id: r.id, resources: r.spec.resources, constraints: r.spec.constraints }
    const others = new Set([...holders].filter((n) => n !== from.nodeId))
    let ranked = rankNodes(job, `${r.id}/${from.index}/${attempt}`, views, { exclude: others })
    if (ranked.candidates.length === 0 && others.size > 0) ranked = rankNodes(job, `${r.id}/${from.index}/${attempt}`, views)
    const candidate = ranked.candidates.find((c) => c.nodeId !== from.nodeId && (this.rejectedUntil.get(`${key}@${c.nodeId}`) ?? 0) <= now)
    if (candidate === undefined) {
      this.nextTryAt.set(key, now + this.config.placementRetryMs)
      return
    }
    const corr = this.send(out, candidate.nodeId, { type: 'offer', jobId: r.id, index: from.index, attempt, resources: r.spec.resources }, this.config.offerTimeoutMs,
      { purpose: 'offer', jobId: r.id, index: from.index, attempt, node: candidate.nodeId, replaces: from.attempt })
    this.offers.set(key, { corr, at: now })
    holders.add(candidate.nodeId)
  }

  /**
   * An offer still waits for its answer. Every send gets exactly one answer or failure from the
   * shell; should one never come (a bug below us), the instance must not wait forever: after
   * twice the offer timeout the offer is dropped and the instance ranked again.
   */
  private offerInFlight(key: string, now: Millis): boolean {
    const o = this.offers.get(key)
    if (o === undefined) return false
    if (now - o.at <= 2 * this.config.offerTimeoutMs) return true
    this.offers.delete(key)
    this.pending.delete(o.corr)
    this.stats.offersLost++
    return false
  }

  /** The candidate reserved room: record the claim, replicate it, then tell the node to start. */
  private granted(jobId: string, index: number, attempt: number, node: NodeId, replaces: number | undefined, now: Millis, out: Effect[]): void {
    const r = this.jobs.get(jobId)
    if (r === undefined || r.cancelled || r.allocations[allocKey(index, attempt)] !== undefined) return
    // A move whose old run ended meanwhile is an ordinary new run.
    const moving = replaces !== undefined && !isTerminalAlloc(r.allocations[allocKey(index, replaces)]?.state ?? 'lost')
    const alloc: Allocation = {
      index, attempt, nodeId: node, nodeName: this.members.record(node)?.name ?? node,
      state: 'claimed', exitCode: null, startedAt: null, finishedAt: null,
      ...(moving ? { replaces } : {}),
    }
    const next = { ...r, allocations: { ...r.allocations, [allocKey(index, attempt)]: alloc }, pendingReason: '', reasonVersion: r.reasonVersion + (r.pendingReason === '' ? 0 : 1) }
    this.stats.placed++
    this.merge(next, now, out, true, false)
    const grantId = allocationId(jobId, index, attempt)
    const others = this.replicaSet(jobId).filter((n) => n !== this.members.selfId)
    const g: Grant = { jobId, alloc, waiting: others.length }
    this.grants.set(grantId, g)
    const rec = this.jobs.get(jobId) as JobRecord
    for (const n of others) this.send(out, n, { type: 'job-update', jobs: [rec] }, this.config.storeTimeoutMs, { purpose: 'grant', grantId })
    if (others.length === 0) this.sendStart(grantId, g, now, out)
  }

  private sendStart(grantId: string, g: Grant, now: Millis, out: Effect[]): void {
    this.grants.delete(grantId)
    const r = this.jobs.get(g.jobId)
    if (r === undefined) return
    this.startSentAt.set(grantId, now)
    this.send(out, g.alloc.nodeId, { type: 'start', job: r, alloc: g.alloc }, this.config.offerTimeoutMs, { purpose: 'start', jobId: g.jobId, index: g.alloc.index, attempt: g.alloc.attempt })
  }

  /** A claim that never turned into a run (lost start, or we took over from a dead arbiter). */
  private resendStart(r: JobRecord, a: Allocation, now: Millis, out: Effect[]): void {
    const id = allocationId(r.id, a.index, a.attempt)
    if (this.grants.has(id)) return
    const sent = this.startSentAt.get(id)
    if (sent !== undefined && now - sent < this.config.claimResendMs) return
    if (sent === undefined) {
      this.startSentAt.set(id, now)
      return
    }
    this.sendStart(id, { jobId: r.id, alloc: a, waiting: 0 }, now, out)
  }

  // --- the node that runs instances -------------------------------------------------------------

  private onOffer(jobId: string, index: number, attempt: number, need: Resources, now: Millis): RpcResponse {
    const id = allocationId(jobId, index, attempt)
    if (this.local.has(id)) return { type: 'accept' }
    if (this.members.selfRecord().draining) return { type: 'reject', reason: 'draining' }
    if (this.jobs.get(jobId)?.cancelled === true) return { type: 'reject', reason: 'cancelled' }
    const free = this.free()
    if (!admits(free, need)) return { type: 'reject', reason: `needs ${need.cpu} cpu / ${need.memoryMb} MB, has ${free.cpu} / ${free.memoryMb}` }
    this.local.set(id, { jobId, index, attempt, resources: need, state: 'reserved', since: now })
    this.capacityDirty = true
    return { type: 'accept' }
  }

  private onStart(job: JobRecord, alloc: Allocation, now: Millis, out: Effect[]): RpcResponse {
    this.merge(job, now, out)
    const r = this.jobs.get(job.id) as JobRecord
    const id = allocationId(r.id, alloc.index, alloc.attempt)
    const cur = r.allocations[allocKey(alloc.index, alloc.attempt)]
    const la = this.local.get(id)
    if (la?.state === 'running') return { type: 'ok' }
    if (cur === undefined || cur.nodeId !== this.members.selfId || cur.state !== 'claimed' || r.cancelled) {
      if (la !== undefined) { this.local.delete(id); this.capacityDirty = true }
      return { type: 'reject', reason: 'stale grant' }
    }
    if (la === undefined && !admits(this.free(), r.spec.resources)) return { type: 'reject', reason: 'no room any more' }
    this.local.set(id, { jobId: r.id, index: alloc.index, attempt: alloc.attempt, resources: r.spec.resources, state: 'running', since: now })
    this.capacityDirty = true
    this.stats.started++
    out.push({ kind: 'start-process', allocId: id, jobId: r.id, index: alloc.index, attempt: alloc.attempt, spec: r.spec })
    this.update(r.id, { ...cur, state: 'running', startedAt: now }, now, out)
    return { type: 'ok' }
  }

  /** After any merge: stop what we run that the record says is not ours, or is cancelled. */
  private reconcileLocal(r: JobRecord, now: Millis, out: Effect[]): void {
    const latest = latestAllocations(r)
    const pendingDuplicates: Array<{ index: number; attempt: number }> = []
    for (const [id, la] of this.local) {
      if (la.jobId !== r.id || la.stopping !== undefined) continue
      if (la.state === 'reserved') {
        if (r.cancelled) { this.local.delete(id); this.capacityDirty = true }
        continue
      }
      const cur = r.allocations[allocKey(la.index, la.attempt)]
      const newest = latest.get(la.index)
      // A newer attempt fences this run, unless it is the replacement a drain placed for it.
      const fenced = cur === undefined || cur.nodeId !== this.members.selfId || cur.state === 'lost' ||
        (newest !== undefined && newest.attempt > la.attempt && newest.replaces !== la.attempt)
      if (r.cancelled && !fenced) {
        la.stopping = 'cancel'
        out.push({ kind: 'kill-process', allocId: id, reason: 'killed' })
      } else if (fenced) {
        la.stopping = 'fenced'
        this.stats.duplicatesStopped++
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
    const self = this.members.selfRecord()
    const duplicates: Record<string, DuplicateRun> = { ...r.duplicates }
    for (const d of pendingDuplicates) {
      duplicates[duplicateKey(d.index, d.attempt, self.id)] = { ...d, nodeId: self.id, nodeName: self.name, stoppedAt: now }
    }
    out.push({ kind: 'emit', event: { type: 'job', job: r.id, name: r.spec.name, state: jobState(r), reason: `stopped ${pendingDuplicates.length} duplicate run(s) on ${self.name}` } })
    this.author({ ...r, duplicates }, now, out)
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
    const digest = jobDigest(next)
    const same = cur !== undefined && this.digests.get(cur.id) === digest
    const replicas = this.replicaSet(next.id)
    if (same) {
      // Nothing new, but a direct store of something we only held in memory still needs the disk.
      if (persist && !this.persisted.has(next.id)) this.persist(next, out)
      return
    }
    this.setJob(next, digest)
    if (persist || replicas.includes(this.members.selfId) || this.persisted.has(next.id)) this.persist(next, out)
    for (const event of jobChangeEvents(cur, next)) out.push({ kind: 'emit', event })
    this.reconcileLocal(next, now, out)
    // Capacity or a finished run may let a waiting instance in: rank again on the next tick.
    for (let i = 0; i < next.spec.count; i++) this.nextTryAt.delete(`${next.id}/${i}`)
    if (!authored) return
    this.gossipOut.add(next.id)
    if (!replicate) return
    // The replicas must have it; nodes running its instances should hear at once (a cancel, a
    // fence), not whenever gossip or the state exchange brings it.
    const to = new Set(replicas)
    for (const a of Object.values(next.allocations)) if (!isTerminalAlloc(a.state)) to.add(a.nodeId)
    to.delete(this.members.selfId)
    for (const n of to) this.send(out, n, { type: 'job-update', jobs: [next] }, this.config.storeTimeoutMs, { purpose: 'update' })
  }

  /** Job records from gossip. */
  onGossip(jobs: JobRecord[], now: Millis, out: Effect[]): void {
    for (const j of jobs) this.merge(j, now, out)
  }

  /** Keep a record: the one place that updates the job table and its indexes. */
  private setJob(r: JobRecord, digest: string): void {
    this.jobs.set(r.id, r)
    this.digests.set(r.id, digest)
    const openClaims = Object.values(r.allocations).some((a) => !isTerminalAlloc(a.state))
    const state = jobState(r)
    if ((state === 'pending' || state === 'running') || (r.cancelled && openClaims)) this.active.add(r.id)
    else this.active.delete(r.id)
  }

  private persist(r: JobRecord, out: Effect[]): void {
    this.persisted.add(r.id)
    out.push({ kind: 'persist', key: jobKey(r.id), value: r })
  }

  private flushGossip(out: Effect[]): void {
    if (this.gossipOut.size === 0) return
    const records = [...this.gossipOut].map((id) => this.jobs.get(id)).filter((r): r is JobRecord => r !== undefined)
    this.gossipOut.clear()
    for (const jobs of gossipBatches(records, this.config.gossipBatchBytes)) out.push({ kind: 'publish', msg: { type: 'jobs', jobs } })
  }

  /** Live nodes ranked by rendezvous hash of the job id: the first ones store it. */
  private ranking(jobId: string): NodeId[] {
    return this.rankings.rank(jobId, this.members.records().filter(live).map((r) => r.id))
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


function round(x: number): number {
  return Math.round(x * 1e6) / 1e6
}
