// The arbiter: the first live storing node of a job places its instances. It ranks nodes
// (src/placement) and offers each instance attempt to the best candidate only: O(1) messages per
// instance. The candidate reserves only if its own true free capacity admits the job. The arbiter
// records the grant, replicates it to the other storing nodes, and only then tells the node to
// start, so the next storing node, which takes over when the arbiter dies, knows every grant.
// Runs on nodes that are gone become `lost` and are placed again (a new attempt); a service run on
// a draining node gets its replacement first, and the old copy stops once the replacement runs.
import { rankNodes, type PlacementJob, type PlacementResult } from '../placement/index.js'
import { Admission, type AdmitJob, type Verdict } from './admission.js'
import { CapacitySampler, NONE_REJECTED } from './capacity-sample.js'
import { live, type JobBook, type Pending } from './job-book.js'
import { allocKey, batchInstanceDone, failedRuns, isTerminalAlloc, jobState, latestAllocations, maxAttempts } from './job-merge.js'
import { allocationId, toNodeView } from './job-status.js'
import type { Allocation, JobRecord } from './job-types.js'
import type { Effect, Millis, NodeId, RpcResponse } from './types.js'

interface Grant {
  jobId: string
  alloc: Allocation
  waiting: number
}

type NodeViews = ReturnType<typeof toNodeView>[]

export class Arbiter {
  /** Offers in flight, per instance: the request's corr and when it went out. */
  private readonly offers = new Map<string, { corr: number; at: Millis }>()
  private readonly grants = new Map<string, Grant>()
  private readonly startSentAt = new Map<string, Millis>()
  /** Claims whose node refused the start: when it first did. */
  private readonly refusedSince = new Map<string, Millis>()
  /** Per instance, the nodes that turned its offer down lately: until when they are skipped. */
  private readonly rejectedUntil = new Map<string, Map<NodeId, Millis>>()
  private readonly nextTryAt = new Map<string, Millis>()
  /** When this node's first tick came: a bound on how long a member can be unknown to it. */
  private upSince: Millis | null = null
  /**
   * When each job next needs deciding, by its last decision (Infinity: every unfinished instance
   * runs on a live member, so only a change of its record or of the member table matters), valid
   * while the member table is at `wakeVersion`. `unsettled`: the jobs of finite wake time.
   */
  private readonly wake = new Map<string, Millis>()
  private wakeVersion = -1
  private readonly unsettled = new Map<string, Millis>()
  /** The least of `unsettled`, or null when it must be recomputed. */
  private earliest: Millis | null = Infinity
  /** Consecutive placements of an instance that found no room: its retries back off. */
  private readonly misses = new Map<string, number>()
  private viewsAt = -1
  private viewsCache: NodeViews = []
  /**
   * Why instances of a shape (resources, the nodes excluded) found no room in `pool`, an array
   * placement is given unchanged while what it says stands (the member views, the full-scan
   * memory): in a full cell every retry of every waiting instance ranked the whole cell again, to
   * write the same reason, a rejection object and a detail string per node each time.
   */
  private noRoom: { pool: NodeViews | null; reasons: Map<string, string> } = { pool: null, reasons: new Map() }
  /**
   * The members as placement sees them, built when something is to be placed (most passes find
   * every instance running) and kept until a record changes. Placement never changes them.
   */
  private readonly views = (): NodeViews => {
    const version = this.book.members.tableVersion()
    if (version !== this.viewsAt) {
      this.viewsCache = this.book.members.records().map(toNodeView)
      this.viewsAt = version
    }
    return this.viewsCache
  }
  private readonly sampler: CapacitySampler
  private readonly admission: Admission

  constructor(private readonly book: JobBook) {
    this.sampler = new CapacitySampler(book)
    this.admission = new Admission(book, this.views, this.sampler)
  }

  /** Has this cell room for a job before it is stored here (admission.ts)? `done` says. */
  admit(job: AdmitJob, now: Millis, out: Effect[], done: Verdict): void {
    this.admission.check(job, now, out, done)
  }

  /** A node reserved the first instance of a job we are to place, at admission: offer it there first. */
  reserved(jobId: string, node: NodeId, now: Millis): void {
    this.sampler.reserved(jobId, node, now)
  }

  onAdmitAnswer(p: Extract<Pending, { purpose: 'admit' }>, msg: RpcResponse | null, now: Millis, out: Effect[]): void {
    this.admission.onAnswer(p.check, p.node, p.offer, msg, now, out)
  }

  /** Another member of the cell scanned it and found no room (see CapacitySampler.adopt). */
  adoptScan(free: ReadonlyArray<readonly [NodeId, number, number]>, now: Millis): void {
    this.sampler.adopt(free, now)
  }

  /** A node's answer to a capacity sample (see capacity-sample.ts). */
  onCapacity(p: Extract<Pending, { purpose: 'capacity' }>, msg: RpcResponse | null, now: Millis): void {
    this.sampler.onAnswer(p.key, p.jobId, p.node, msg, now)
  }

  /** A sample had no room for the instance: ask more nodes now (true) instead of calling it pending. */
  private widen(key: string, r: JobRecord, views: () => NodeViews, others: ReadonlySet<NodeId>, now: Millis, out: Effect[]): boolean {
    if (!this.book.sampling()) return false
    const job = { id: r.id, resources: r.spec.resources, constraints: r.spec.constraints }
    return this.sampler.widen(key, r.id, job, views, others, this.rejectedBy(key, now), now, out)
  }

  /**
   * The nodes to rank for an instance: every node's announced view, or, when capacity is not
   * announced, the answers of a sample of nodes (null while they are still coming).
   */
  private pool(key: string, r: JobRecord, views: () => NodeViews, others: ReadonlySet<NodeId>, now: Millis, out: Effect[]): NodeViews | null {
    if (!this.book.sampling()) return views()
    const job = { id: r.id, resources: r.spec.resources, constraints: r.spec.constraints }
    return this.sampler.pool(key, r.id, job, views, others, this.rejectedBy(key, now), now, out)
  }

  noteTick(now: Millis): void {
    this.upSince ??= now
  }

  /** When this node's first tick came (null before it): how long it has been up. */
  upSinceAt(): Millis | null {
    return this.upSince
  }

  /** Is this node the job's arbiter (its first live storing node)? */
  isArbiterOf(jobId: string): boolean {
    return this.book.replicaSet(jobId)[0] === this.book.members.selfId
  }

  /** Capacity or a finished run may let a waiting instance in: rank it again on the next tick. */
  retryNow(jobId: string, count: number): void {
    for (let i = 0; i < count; i++) {
      this.nextTryAt.delete(`${jobId}/${i}`)
      this.misses.delete(`${jobId}/${i}`)
    }
    this.changed(jobId)
  }

  // --- answers ------------------------------------------------------------------------------------

  onOfferAnswer(p: Extract<Pending, { purpose: 'offer' }>, ok: boolean, now: Millis, out: Effect[]): void {
    const key = `${p.jobId}/${p.index}`
    this.offers.delete(key)
    const resources = this.book.get(p.jobId)?.spec.resources
    if (resources !== undefined) this.sampler.offerAnswered(p.node, resources, ok)
    if (ok) this.granted(p.jobId, p.index, p.attempt, p.node, p.replaces, now, out)
    else {
      this.book.stats.offersRejected++
      let nodes = this.rejectedUntil.get(key)
      if (nodes === undefined) this.rejectedUntil.set(key, nodes = new Map())
      nodes.set(p.node, now + this.book.config.rejectBackoffMs)
    }
  }

  /** A storing node has the grant on disk; once all have it, the node may start. */
  onGrantAck(grantId: string, now: Millis, out: Effect[]): void {
    const g = this.grants.get(grantId)
    if (g === undefined) return
    if (--g.waiting <= 0) this.sendStart(grantId, g, now, out)
  }

  /**
   * The node turned the start down: its reservation expired (the grant took long) and it has no
   * room right now. The start is re-sent (claimResendMs) and usually taken once room frees; a
   * claim refused for claimRefusedLimitMs will not run: close it so the instance is placed again
   * (a refused start is not the job's failure).
   */
  onStartAnswer(p: Extract<Pending, { purpose: 'start' }>, msg: RpcResponse | null, now: Millis, out: Effect[]): void {
    const id = allocationId(p.jobId, p.index, p.attempt)
    if (msg?.type !== 'reject') {
      if (msg !== null) this.refusedSince.delete(id)
      return
    }
    const since = this.refusedSince.get(id)
    if (since === undefined) { this.refusedSince.set(id, now); return }
    if (now - since < this.book.config.claimRefusedLimitMs) return
    this.refusedSince.delete(id)
    const r = this.book.get(p.jobId)
    const a = r?.allocations[allocKey(p.index, p.attempt)]
    if (r === undefined || a?.state !== 'claimed') return
    this.book.update(p.jobId, r.cancelled
      ? { ...a, state: 'cancelled', finishedAt: now, reason: 'job cancelled before it started' }
      : { ...a, state: 'lost', finishedAt: now, reason: `node ${a.nodeName} refused the start: ${msg.reason}` }, now, out)
  }

  // --- the loop -----------------------------------------------------------------------------------

  /**
   * Is the node of a run gone, so its run is lost? Dead or left in our view. A node we do not know
   * at all is gone only once we have been up long enough to have heard of every member (a node
   * that just restarted knows nobody yet, and must not declare every run elsewhere lost).
   */
  private gone(id: NodeId, now: Millis): boolean {
    const r = this.book.members.record(id)
    if (r !== undefined) return !live(r)
    return this.upSince !== null && now - this.upSince > this.book.config.unknownNodeGraceMs
  }

  /**
   * The tick's pass over a job: skipped until the time its last decision named, or until its record
   * (arbitrate) or the member table (a death, a drain) changes. At 50% load most active jobs have
   * every instance running, and re-deciding each of them 10 times a second was a third of an idle
   * node's cost in the simulator; a job waiting for room retries on its own schedule.
   */
  onTick(r: JobRecord, now: Millis, out: Effect[]): void {
    const version = this.book.members.tableVersion()
    if (version !== this.wakeVersion) {
      this.wake.clear()
      this.wakeVersion = version
      // Which jobs are ours may have changed too: the next earliestWake looks again.
      this.earliest = null
    }
    if ((this.wake.get(r.id) ?? -Infinity) <= now) this.arbitrate(r, now, out)
  }

  /** The member table changed since the tick's last pass: every job is to be decided again. */
  stale(): boolean {
    return this.wakeVersion !== this.book.members.tableVersion()
  }

  /**
   * The earliest time one of the jobs in both `active` and `mine` needs deciding (Infinity:
   * none). Other jobs are forgotten. Kept between calls: a node with many jobs waiting for room
   * asks after every step.
   */
  earliestWake(active: ReadonlySet<string>, mine: ReadonlySet<string>): Millis {
    if (this.earliest !== null) return this.earliest
    let at = Infinity
    for (const [id, w] of this.unsettled) {
      if (!active.has(id) || !mine.has(id)) this.unsettled.delete(id)
      else if (w < at) at = w
    }
    this.earliest = at
    return at
  }

  /**
   * A job ended: nothing of it is to be decided again. Its per-instance and per-run entries go
   * too (a node that places jobs for months must not keep one entry per placement it ever made).
   */
  settle(r: JobRecord): void {
    this.wake.delete(r.id)
    this.setUnsettled(r.id, Infinity)
    for (let index = 0; index < r.spec.count; index++) {
      const key = `${r.id}/${index}`
      this.nextTryAt.delete(key)
      this.misses.delete(key)
      this.rejectedUntil.delete(key)
      this.sampler.done(key)
    }
    for (const a of Object.values(r.allocations)) {
      const id = allocationId(r.id, a.index, a.attempt)
      this.startSentAt.delete(id)
      this.refusedSince.delete(id)
    }
  }

  /** Entries the arbiter keeps per instance and per run (for tests: none once every job ended). */
  heldEntries(): number {
    return this.nextTryAt.size + this.misses.size + this.rejectedUntil.size + this.startSentAt.size + this.refusedSince.size +
      this.offers.size + this.grants.size + this.sampler.heldEntries() + this.admission.held()
  }

  /** Which nodes turned instance `key` down lately, as the sampler asks it. */
  private rejectedBy(key: string, now: Millis): (node: NodeId) => boolean {
    return this.rejectedUntil.has(key) ? (n) => this.rejected(key, n, now) : NONE_REJECTED
  }

  private rejected(key: string, node: NodeId, now: Millis): boolean {
    return (this.rejectedUntil.get(key)?.get(node) ?? 0) > now
  }

  /**
   * The job's record changed: the next pass decides it again, if we decide it (a storing node or
   * runner that is not its arbiter has nothing to wake up for).
   */
  changed(jobId: string): void {
    this.wake.delete(jobId)
    if (this.isArbiterOf(jobId)) this.setUnsettled(jobId, -Infinity)
  }

  arbitrate(r: JobRecord, now: Millis, out: Effect[]): void {
    const at = this.decide(r, now, out)
    this.wake.set(r.id, at)
    this.setUnsettled(r.id, at)
  }

  private setUnsettled(jobId: string, at: Millis): void {
    const before = this.unsettled.get(jobId)
    if (at === Infinity) this.unsettled.delete(jobId)
    else this.unsettled.set(jobId, at)
    if (this.earliest === null) return
    if (at < this.earliest) this.earliest = at
    else if (before !== undefined && before <= this.earliest && at > before) this.earliest = null
  }

  /**
   * Rank `pool` for one instance, excluding the nodes that hold its other instances unless only
   * they fit. A shape that found no room in this very pool finds none again: its reason is kept.
   */
  private rank(job: PlacementJob, allocKey: string, pool: NodeViews, others: ReadonlySet<NodeId>, r: JobRecord): PlacementResult {
    const shape = job.constraints.length === 0 ? `${job.resources.cpu}/${job.resources.memoryMb}/${[...others].sort().join(',')}` : undefined
    if (this.noRoom.pool !== pool) this.noRoom = { pool, reasons: new Map() }
    const known = shape === undefined ? undefined : this.noRoom.reasons.get(shape)
    if (known !== undefined) return { candidates: [], rejected: [], pendingReason: known }
    let ranked = rankNodes(job, allocKey, pool, { exclude: others, sample: this.sampleFor(r) })
    if (ranked.candidates.length === 0 && others.size > 0) ranked = rankNodes(job, allocKey, pool, { sample: this.sampleFor(r) })
    if (shape !== undefined && ranked.candidates.length === 0 && ranked.pendingReason !== undefined && this.noRoom.reasons.size < 256) {
      this.noRoom.reasons.set(shape, ranked.pendingReason)
    }
    return ranked
  }

  /** Place what needs placing; returns when to look again (Infinity: every unfinished instance runs on a live member). */
  private decide(r: JobRecord, now: Millis, out: Effect[]): Millis {
    if (r.cancelled) {
      // Claims that never started will not start now (the node refuses a start for a cancelled
      // job): close them. A run that did start is stopped by its node, which records the end.
      for (const a of Object.values(r.allocations)) {
        if (a.state === 'claimed') this.book.update(r.id, { ...a, state: 'cancelled', finishedAt: now, reason: 'job cancelled before it started' }, now, out)
        else if (a.state === 'running' && this.gone(a.nodeId, now)) {
          this.book.update(r.id, { ...a, state: 'lost', finishedAt: now, reason: `node ${a.nodeName} is ${this.book.members.record(a.nodeId)?.state ?? 'gone'}` }, now, out)
        }
      }
      return -Infinity
    }
    const state = jobState(r)
    if (state === 'succeeded' || state === 'failed') return Infinity
    let wake = Infinity
    const latest = latestAllocations(r)
    const views = this.views
    const holders = new Set<NodeId>()
    for (const a of latest.values()) if (!isTerminalAlloc(a.state)) holders.add(a.nodeId)
    for (let index = 0; index < r.spec.count; index++) {
      const last = latest.get(index)
      const key = `${r.id}/${index}`
      // Open runs of this instance: one, or two while a drain moves it (the old one and its replacement).
      let open = Object.values(r.allocations).filter((a) => a.index === index && !isTerminalAlloc(a.state))
      for (const a of open) {
        if (this.gone(a.nodeId, now)) {
          this.book.update(r.id, { ...a, state: 'lost', finishedAt: now, reason: `node ${a.nodeName} is ${this.book.members.record(a.nodeId)?.state ?? 'gone'}` }, now, out)
        }
      }
      open = open.filter((a) => !this.gone(a.nodeId, now)).sort((a, b) => b.attempt - a.attempt)
      const current = open[0]
      if (current !== undefined) {
        if (current.state !== 'running' || open.length > 1 || this.book.members.record(current.nodeId)?.draining !== false) wake = -Infinity
        if (current.state === 'claimed') this.resendStart(r, current, now, out)
        const old = current.replaces === undefined ? undefined : open.find((a) => a.attempt === current.replaces)
        if (current.state === 'running' && old !== undefined) {
          // The replacement runs: now the old copy on the draining node may stop.
          this.book.stats.drainMoves++
          this.book.update(r.id, { ...old, state: 'cancelled', finishedAt: now, reason: `moved to ${current.nodeName}: node ${old.nodeName} is draining` }, now, out)
        }
        if (current.state === 'running' && r.spec.type === 'service' && this.book.members.record(current.nodeId)?.draining === true) {
          this.move(r, current, views, holders, now, out)
        }
        continue
      }
      if (batchInstanceDone(r, index)) continue
      if (r.spec.type === 'batch' && failedRuns(r, index) >= maxAttempts(r)) continue
      if (this.offerInFlight(key, now)) { wake = -Infinity; continue }
      const backoffEnd = last !== undefined && (last.state === 'failed' || last.state === 'succeeded') ? (last.finishedAt ?? 0) + r.spec.restart.backoffMs : -Infinity
      if (now < backoffEnd) { wake = Math.min(wake, backoffEnd); continue }
      const tryAt = this.nextTryAt.get(key) ?? 0
      if (tryAt > now) { wake = Math.min(wake, tryAt); continue }
      const attempt = Math.max(0, ...Object.values(r.allocations).filter((a) => a.index === index).map((a) => a.attempt)) + 1
      const job = { id: r.id, resources: r.spec.resources, constraints: r.spec.constraints }
      const allocKeyStr = `${r.id}/${index}/${attempt}`
      const others = new Set([...holders].filter((n) => n !== last?.nodeId))
      const pool = this.pool(key, r, views, others, now, out)
      // A sample is out: its answers wake the job (book.touch).
      if (pool === null) { wake = -Infinity; continue }
      const ranked = this.rank(job, allocKeyStr, pool, others, r)
      const candidate = ranked.candidates.find((c) => !this.rejected(key, c.nodeId, now))
      if (candidate === undefined && this.widen(key, r, views, others, now, out)) { wake = -Infinity; continue }
      if (candidate === undefined) {
        const reason = ranked.pendingReason ?? 'every fitting node turned the offer down; retrying'
        if (reason !== r.pendingReason) this.book.author({ ...r, pendingReason: reason, reasonVersion: r.reasonVersion + 1 }, now, out)
        // Without a capacity view (sampling), back off while it keeps finding no room (0.5, 1, 2,
        // then every 4 s): each retry is a sample of 8 nodes, and a full cell's waiting jobs asked
        // it twice a second each. With the view, retries cost nothing on the wire: every 0.5 s.
        const misses = this.book.sampling() ? (this.misses.get(key) ?? 0) + 1 : 1
        this.misses.set(key, misses)
        const retryAt = now + this.book.config.placementRetryMs * 2 ** Math.min(3, misses - 1)
        this.nextTryAt.set(key, retryAt)
        wake = Math.min(wake, retryAt)
        continue
      }
      const corr = this.book.send(out, candidate.nodeId, { type: 'offer', jobId: r.id, index, attempt, resources: r.spec.resources }, this.book.config.offerTimeoutMs,
        { purpose: 'offer', jobId: r.id, index, attempt, node: candidate.nodeId })
      this.offers.set(key, { corr, at: now })
      holders.add(candidate.nodeId)
      wake = -Infinity
    }
    return wake
  }

  /**
   * Batch jobs pack (best fit among a sample: whole nodes stay free for big jobs); services spread
   * by capacity-weighted rendezvous. A service is long-lived, so what matters for it is how many
   * go down with one node: packed 10 services on 5 agents, a SIGKILL moved up to 10 at once and
   * the last ran again after 2.5 s (p99); spread, 1.3 s.
   */
  private sampleFor(r: JobRecord): number {
    return r.spec.type === 'batch' ? this.book.config.placementSample : 0
  }

  /**
   * A service run on a draining node: place a replacement elsewhere first; the old copy stops
   * once the replacement runs (see arbitrate). Nowhere to go: it stays until the drain deadline.
   */
  private move(r: JobRecord, from: Allocation, views: () => NodeViews, holders: Set<NodeId>, now: Millis, out: Effect[]): void {
    const key = `${r.id}/${from.index}`
    if (this.offerInFlight(key, now) || (this.nextTryAt.get(key) ?? 0) > now) return
    const attempt = Math.max(0, ...Object.values(r.allocations).filter((a) => a.index === from.index).map((a) => a.attempt)) + 1
    const job = { id: r.id, resources: r.spec.resources, constraints: r.spec.constraints }
    const others = new Set([...holders].filter((n) => n !== from.nodeId))
    const pool = this.pool(key, r, views, new Set([...others, from.nodeId]), now, out)
    if (pool === null) return
    let ranked = rankNodes(job, `${r.id}/${from.index}/${attempt}`, pool, { exclude: others, sample: this.sampleFor(r) })
    if (ranked.candidates.length === 0 && others.size > 0) ranked = rankNodes(job, `${r.id}/${from.index}/${attempt}`, pool, { sample: this.sampleFor(r) })
    const candidate = ranked.candidates.find((c) => c.nodeId !== from.nodeId && !this.rejected(key, c.nodeId, now))
    if (candidate === undefined) {
      this.nextTryAt.set(key, now + this.book.config.placementRetryMs)
      return
    }
    const corr = this.book.send(out, candidate.nodeId, { type: 'offer', jobId: r.id, index: from.index, attempt, resources: r.spec.resources }, this.book.config.offerTimeoutMs,
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
    if (now - o.at <= 2 * this.book.config.offerTimeoutMs) return true
    this.offers.delete(key)
    this.book.forget(o.corr)
    this.book.stats.offersLost++
    return false
  }

  /** The candidate reserved room: record the claim, replicate it, then tell the node to start. */
  private granted(jobId: string, index: number, attempt: number, node: NodeId, replaces: number | undefined, now: Millis, out: Effect[]): void {
    this.sampler.done(`${jobId}/${index}`)
    this.misses.delete(`${jobId}/${index}`)
    const r = this.book.get(jobId)
    if (r === undefined || r.cancelled || r.allocations[allocKey(index, attempt)] !== undefined) return
    // The instance may have finished while the offer was out (a run taken for lost reported its
    // success): granting would run a succeeded batch instance again. The node's reservation expires.
    if (batchInstanceDone(r, index)) return
    // A move whose old run ended meanwhile is an ordinary new run.
    const moving = replaces !== undefined && !isTerminalAlloc(r.allocations[allocKey(index, replaces)]?.state ?? 'lost')
    const alloc: Allocation = {
      index, attempt, nodeId: node, nodeName: this.book.members.record(node)?.name ?? node,
      state: 'claimed', exitCode: null, startedAt: null, finishedAt: null,
      ...(moving ? { replaces } : {}),
    }
    const next = { ...r, allocations: { ...r.allocations, [allocKey(index, attempt)]: alloc }, pendingReason: '', reasonVersion: r.reasonVersion + (r.pendingReason === '' ? 0 : 1) }
    this.book.stats.placed++
    this.book.merge(next, now, out, true, false)
    const grantId = allocationId(jobId, index, attempt)
    const others = this.book.replicaSet(jobId).filter((n) => n !== this.book.members.selfId)
    const g: Grant = { jobId, alloc, waiting: others.length }
    this.grants.set(grantId, g)
    const rec = this.book.get(jobId) as JobRecord
    const update = { type: 'job-update' as const, jobs: [rec] }
    for (const n of others) this.book.send(out, n, update, this.book.config.storeTimeoutMs, { purpose: 'grant', grantId })
    if (others.length === 0) this.sendStart(grantId, g, now, out)
  }

  private sendStart(grantId: string, g: Grant, now: Millis, out: Effect[]): void {
    this.grants.delete(grantId)
    const r = this.book.get(g.jobId)
    if (r === undefined) return
    this.startSentAt.set(grantId, now)
    this.book.send(out, g.alloc.nodeId, { type: 'start', job: r, alloc: g.alloc }, this.book.config.offerTimeoutMs, { purpose: 'start', jobId: g.jobId, index: g.alloc.index, attempt: g.alloc.attempt })
  }

  /** A claim that never turned into a run (lost start, or we took over from a dead arbiter). */
  private resendStart(r: JobRecord, a: Allocation, now: Millis, out: Effect[]): void {
    const id = allocationId(r.id, a.index, a.attempt)
    if (this.grants.has(id)) return
    const sent = this.startSentAt.get(id)
    if (sent !== undefined && now - sent < this.book.config.claimResendMs) return
    if (sent === undefined) {
      this.startSentAt.set(id, now)
      return
    }
    this.sendStart(id, { jobId: r.id, alloc: a, waiting: 0 }, now, out)
  }
}
