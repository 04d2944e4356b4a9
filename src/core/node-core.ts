// The node's protocol core: one object per node, fed events with `now`, answering with effects.
// It composes the sub-machines (membership, jobs), routes events between them, and owns the
// seeded rng and the correlation ids they share.
import { CellRouter } from './cell-router.js'
import type { MembershipConfig } from './config.js'
import { Directory } from './directory.js'
import type { ApiReply, ApiRequest, JobRecord, JobStatus } from './job-types.js'
import { Jobs, JOBS_DEFAULTS, type JobsConfig, type JobsStats } from './jobs.js'
import { Membership, type MembershipStats, type SelfInfo } from './membership.js'
import { Rng, seedFromString } from './rng.js'
import { SelfRequests, type SelfRequest } from './self-requests.js'
import type { Contact, CoreEvent, Effect, Millis, NodeRecord, NodeStatus, Resources, RpcRequest } from './types.js'

export interface CoreInit {
  self: SelfInfo
  /** The highest incarnation persisted by an earlier run of this node (0 for a new node). */
  lastIncarnation: number
  config: MembershipConfig
  jobsConfig?: JobsConfig
  /** Job records this node stored before (its data dir). */
  storedJobs?: JobRecord[]
  /** A drain under way when this node stopped (its data dir): it goes on. */
  drain?: { deadlineAt: Millis } | null
  /** Cells the cluster is split into (src/core/cells.ts); every node must be given the same. Default 1. */
  cells?: number
  /** Mixed with the node id so that simulated nodes differ but replay identically. */
  seed: number
  now: Millis
}

/**
 * A directory exchange with one other cell this often (src/core/directory.ts). It only refreshes
 * contacts: a contact that fails is dropped and the hole refilled from our own cell within
 * seconds. At 100 cells one exchange is ~60 KB (two full directories); every 60 s that was
 * ~1 KB/s per node, a fifth of an idle node's traffic in the simulator at 10,000 nodes.
 */
const DIRECTORY_EXCHANGE_MS = 300_000
/**
 * A forwarded API request (a submit waits for its storing nodes' disks, ~3 s at worst) gives up
 * after this: under the receiving runtime's 10 s limit on holding a request, and short enough
 * that a second contact still answers within the API's 15 s.
 */
const FORWARD_TIMEOUT_MS = 6_000
/**
 * An event this long past the time a tick was due means the node's event loop stalled: well past
 * timer jitter on a busy machine (a tick or two), well under the failure detector's seconds.
 */
const STALL_MS = 1_000
/**
 * The job machine's tick runs at least this often even when its wakeAt() says nothing is due: a
 * deadline wakeAt() ever failed to report is then late by this much, not forever (the runtime's
 * own backstop wakes the core, but a tick that is not due would skip the job machine). Ticks
 * come every probeIntervalMs, so this skips most of them still.
 */
const JOBS_TICK_BACKSTOP_MS = 5_000
/** The error code of a refused sync or directory exchange from a node started with another --cells. */
export const CELLS_MISMATCH = 'cells_mismatch'

export class NodeCore {
  private readonly membership: Membership
  private readonly rng: Rng
  private readonly jobs: Jobs
  private corr = 1
  /** The membership live version the job machine last saw (see Jobs.onLiveChange). */
  private seenLive = 0
  private readonly tickMs: number
  private readonly directory: Directory
  private readonly router: CellRouter
  /** API requests this core made of itself (a forwarded request, a listing's own cell), until their reply. */
  private readonly selfRequests = new SelfRequests()
  /** Addresses of nodes of our cell a directory told us of, until membership has their records. */
  private readonly hints = new Map<string, string[]>()
  /** When this core was created: activity digests published before it are old news. */
  private readonly startedAt: Millis

  private constructor(init: CoreInit, out: Effect[]) {
    const rng = new Rng(seedFromString(init.self.id) ^ init.seed)
    this.startedAt = init.now
    this.rng = rng
    const nextCorr = (): number => this.corr++
    const view = {
      selfId: init.self.id,
      records: () => this.membership.records(),
      record: (id: string) => this.membership.record(id),
      selfRecord: () => this.membership.selfRecord(),
      lastHeard: (id: string) => this.membership.lastHeard(id),
      liveOthers: () => this.membership.liveOthers(),
      liveVersion: () => this.membership.liveVersion(),
      tableVersion: () => this.membership.tableVersion(),
      setDraining: (draining: boolean, now: Millis, out: Effect[]) => this.membership.handle({ kind: 'self-update', patch: { draining } }, now, out),
    }
    this.jobs = new Jobs(view, nextCorr, init.jobsConfig ?? JOBS_DEFAULTS)
    this.tickMs = init.config.tickMs
    const cells = init.cells ?? 1
    this.directory = new Directory(init.self.id, { cells, perCell: 3, exchangeMs: DIRECTORY_EXCHANGE_MS, timeoutMs: 2 * init.config.probeRoundMs },
      rng, (k) => this.ownSample(k), nextCorr, (c, now, out) => {
        this.hints.set(c.id, c.addrs)
        this.membership.syncWith(c.id, now, out)
      }, init.now)
    this.membership = new Membership(init.self, init.lastIncarnation, init.config, rng, init.now, out, nextCorr, (r) => {
      if (this.directory.cellOf(r.id) === this.directory.myCell) return false
      if (r.state === 'alive' || r.state === 'suspect') this.directory.note({ id: r.id, addrs: r.addrs, incarnation: r.incarnation })
      return true
    }, cells, {
      own: () => this.jobs.free(),
      heard: (node, free, now) => this.jobs.heardFromProbe(node, free, now),
    })
    this.router = new CellRouter(this.directory, nextCorr, FORWARD_TIMEOUT_MS, { runHere: (req, then, now, out) => this.runHere(req, then, now, out) }, cells)
    if (init.storedJobs !== undefined && init.storedJobs.length > 0) this.jobs.load(init.storedJobs, init.now, out)
    if (init.drain != null) {
      this.jobs.restoreDrain(init.drain.deadlineAt)
      if (!init.self.draining) this.membership.handle({ kind: 'self-update', patch: { draining: true } }, init.now, out)
    }
  }

  /** A new core and the effects of starting it (persist the new incarnation, report lost runs). */
  static create(init: CoreInit): { core: NodeCore; effects: Effect[] } {
    const effects: Effect[] = []
    const core = new NodeCore(init, effects)
    return { core, effects }
  }

  get id(): string {
    return this.membership.id
  }

  /** Feed one event; returns what the caller must do, in order. */
  step(event: CoreEvent, now: Millis): Effect[] {
    const out: Effect[] = []
    this.wake = null
    // A timer that should have fired long ago did not: the event loop stalled (SIGSTOP, a long
    // pause), and what arrives now piled up meanwhile.
    if (now > this.tickDueBy + STALL_MS) { this.jobs.resumed(now); this.jobsWake = -Infinity }
    switch (event.kind) {
      case 'tick': {
        // Most ticks come for membership (a probe round every probeIntervalMs). The job machine's
        // tick finds nothing due before its wakeAt() as of the last step (nothing changed it since),
        // except its arbiter's note of a change of the live set (Arbiter.noteTick), kept here; it
        // still runs every JOBS_TICK_BACKSTOP_MS. Its sweeps (tombstones, ended jobs: bounded
        // memory, no deadline of their own) run on every tick. At 10,000 simulated nodes each part
        // it touches is a cache miss.
        const live = this.membership.liveVersion()
        const due = now >= this.jobsWake || live !== this.jobsTickLive || now >= this.jobsTickAt + JOBS_TICK_BACKSTOP_MS
        if (due) { this.jobsTickLive = live; this.jobsTickAt = now }
        this.jobs.onTick(now, out, due)
        this.membership.handle(event, now, out)
        this.directory.onTick(now, out)
        for (const id of this.hints.keys()) if (this.membership.record(id) !== undefined) this.hints.delete(id)
        break
      }
      case 'peer-connected':
        // A node of another cell (our join seed, say): trade directories, not member tables.
        if (this.directory.enabled && this.directory.cellOf(event.peer) !== this.directory.myCell) this.directory.exchangeWith(event.peer, out)
        else this.membership.handle(event, now, out)
        break
      case 'gossip':
        if (event.msg.type !== 'activity') this.membership.handle(event, now, out)
        else if ((event.msg.at ?? Infinity) >= this.startedAt) this.jobs.onActivity(event.msg, now, out)
        // Else a digest published before this process started: gossipsub hands a peer that just
        // connected what its neighbours published in their last few heartbeats (IHAVE/IWANT). On a
        // restarted node it would put old news on the stream after what its first life showed (a
        // job told succeeded, then running again) and stale free capacity in its view. Only the
        // author's clock is compared with ours: a skew between hosts moves this edge by the skew.
        break
      case 'rpc-request':
        if (event.msg.type === 'api') {
          // Asked by a node of another cell: answer here, never forward again.
          this.runHere(event.msg.req, { purpose: 'forwarded-rpc', reqId: event.reqId }, now, out)
        } else if (this.otherCells(event.msg)) {
          // A node of a cluster split into another number of cells: its records and contacts are
          // not ours to merge (every node of a cluster must be started with the same --cells).
          const message = `node ${this.membership.id} runs with --cells ${this.directory.cells}, node ${event.from} with --cells ${String(event.msg.cells)}: every node of a cluster needs the same`
          out.push({ kind: 'reply', reqId: event.reqId, msg: { type: 'error', code: CELLS_MISMATCH, message } })
        } else if (!this.directory.onRequest(event.reqId, event.msg, now, out) && !this.jobs.onRequest(event.from, event.reqId, event.msg, now, out)) {
          this.membership.handle(event, now, out)
        }
        break
      case 'rpc-response':
        if (this.router.onResponse(event.corr, event.from, event.msg, now, out) || this.directory.onResponse(event.corr, event.msg, now, out)) break
        this.jobs.onResponse(event.corr, event.from, event.msg, now, out)
        this.membership.handle(event, now, out)
        break
      case 'rpc-failed':
        if (this.router.onResponse(event.corr, event.to, null, now, out) || this.directory.onResponse(event.corr, null, now, out)) break
        this.jobs.onResponse(event.corr, event.to, null, now, out)
        this.membership.handle(event, now, out)
        break
      case 'api':
        if (!this.router.route(event.reqId, event.req, now, out)) this.jobs.onApi(event.reqId, event.req, now, out)
        break
      case 'process-exit':
        this.jobs.onProcessExit(event.exit, now, out)
        break
      default:
        this.membership.handle(event, now, out)
    }
    const live = this.membership.liveVersion()
    if (live !== this.seenLive) {
      this.seenLive = live
      this.jobs.onLiveChange(now, out)
    }
    this.jobs.endStep(now, out)
    const effects = this.selfRequests.size === 0 ? out : this.takeSelfReplies(out, now)
    this.wake = null
    // The runtime wakes us by then (at wakeAt, or on its next tick).
    const wake = this.wakeAt()
    this.tickDueBy = wake === Infinity ? Infinity : Math.max(wake, now) + this.tickMs
    return effects
  }

  /** When a tick must have come at the latest, as of the last step (see STALL_MS). */
  private tickDueBy = Infinity

  /** A sync or directory exchange from a node that splits the cluster into another number of cells. */
  private otherCells(msg: RpcRequest): msg is RpcRequest & { cells: number } {
    return (msg.type === 'sync' || msg.type === 'directory') && msg.cells !== undefined && msg.cells !== this.directory.cells
  }

  /** Run an API request here, its reply going where `then` says instead of to the API (see resume). */
  private runHere(req: ApiRequest, then: SelfRequest, now: Millis, out: Effect[]): void {
    this.jobs.onApi(this.selfRequests.open(then), req, now, out)
  }

  /** Replies to our own API requests leave the effects and go where they were asked for. */
  private takeSelfReplies(out: Effect[], now: Millis): Effect[] {
    const kept: Effect[] = []
    for (let i = 0; i < out.length; i++) {
      const e = out[i] as Effect
      const p = e.kind === 'api-reply' ? this.selfRequests.take(e.reqId) : undefined
      if (p === undefined || e.kind !== 'api-reply') { kept.push(e); continue }
      // What it does (a reply, more requests) joins this step's effects, and is looked at in turn.
      this.resume(p, e.reply, now, out)
    }
    return kept
  }

  /** The reply to an API request this core made of itself, where it was asked for. */
  private resume(p: SelfRequest, reply: ApiReply, now: Millis, out: Effect[]): void {
    switch (p.purpose) {
      case 'forwarded-rpc': out.push({ kind: 'reply', reqId: p.reqId, msg: { type: 'api-reply', status: reply.status, body: reply.body } }); break
      case 'api': out.push({ kind: 'api-reply', reqId: p.reqId, reply }); break
      case 'spill': this.router.spillAnswer(p.spill, reply, now, out); break
      case 'listing': this.router.ownCellListed(p.listing, reply, out); break
    }
  }

  /** A few live members of our cell, ourselves first: the contacts we give other cells. */
  private ownSample(k: number): Contact[] {
    const live = this.membership.records().filter((r) => r.state === 'alive' && r.id !== this.membership.id)
    const self = this.membership.selfRecord()
    const picked = [self, ...this.rngSample(live, k - 1)]
    return picked.map((r) => ({ id: r.id, addrs: r.addrs, incarnation: r.incarnation }))
  }

  private rngSample<T>(xs: T[], k: number): T[] {
    return this.rng.sample(xs, Math.max(0, k))
  }

  /** Addresses of a member of our cell or a contact of another (for the shell's dials). */
  addrsOf(id: string): string[] | undefined {
    return this.membership.record(id)?.addrs ?? this.directory.contact(id)?.addrs ?? this.hints.get(id)
  }

  /** Contacts of other cells known from elsewhere (the simulator's warm boot: a cluster that has run a while). */
  learnContacts(contacts: readonly Contact[], now: Millis): void {
    this.directory.learned(contacts.filter((c) => this.directory.cellOf(c.id) !== this.directory.myCell), now)
    this.wake = null
  }

  /** The cell this node is in (0 with one cell). */
  get cell(): number {
    return this.directory.myCell
  }

  /** Contacts in other cells (empty with one cell). */
  contacts(): Contact[] {
    return this.directory.all()
  }

  /**
   * The earliest time a tick could change anything here (-Infinity: the next tick). The runtime
   * ticks every tickMs regardless; the simulator asks this after each step and skips the ticks
   * before it, since they would find nothing due. Ticks are ~60% of an idle node's events.
   */
  wakeAt(): Millis {
    // Only a step changes it: kept until the next (the simulator asks after each step and twice
    // per tick it runs, each time walking every part of a node that is cold in cache).
    if (this.wake !== null) return this.wake
    this.jobsWake = this.jobs.wakeAt()
    const at = Math.min(this.membership.wakeAt(), this.jobsWake, this.directory.wakeAt())
    this.wake = at
    return at
  }

  /** wakeAt() since the last step (null: to compute). */
  private wake: Millis | null = null
  /** The job machine's part of wakeAt(), as of the last step (-Infinity: its next tick runs whatever). */
  private jobsWake: Millis = -Infinity
  /** The membership live version when the job machine's tick last ran. */
  private jobsTickLive = -1
  /** When the job machine's tick last ran (JOBS_TICK_BACKSTOP_MS). */
  private jobsTickAt = -Infinity

  /** The members as the API shows them, with free capacity and runs as this node knows them. */
  nodes(now: Millis): NodeStatus[] {
    return this.membership.statuses(now).map((n) => {
      const free = this.jobs.freeOf(n.id, n.resources.free)
      const allocations = this.jobs.allocationsOf(n.id) ?? n.allocations
      return free === n.resources.free && allocations === n.allocations ? n : { ...n, resources: { total: n.resources.total, free }, allocations }
    })
  }

  records(): NodeRecord[] {
    return this.membership.records()
  }

  selfRecord(): NodeRecord {
    return this.membership.selfRecord()
  }

  /** Free capacity by this node's own books. */
  free(): Resources {
    return this.jobs.free()
  }

  /** Runs (and reservations) this node holds, and requests it still waits on: a leaving node waits for both. */
  busy(): { local: number; pending: number } {
    return { local: this.jobs.localCount(), pending: this.jobs.pendingCount() }
  }

  /** When this node's drain deadline passes, or null when it is not draining. */
  drainDeadlineAt(): Millis | null {
    return this.jobs.drainDeadlineAt()
  }

  /** Entries the arbiter keeps per instance and per run; none once every job it decided ended. */
  arbiterEntries(): number {
    return this.jobs.arbiterEntries()
  }

  /** Per-job state this node keeps, part by part (see Jobs.footprint). */
  footprint(): Record<string, number> {
    return this.jobs.footprint()
  }

  jobStatuses(): JobStatus[] {
    return this.jobs.statuses()
  }

  jobStatus(id: string): JobStatus | undefined {
    return this.jobs.status(id)
  }

  /** The nodes that store a job, first one its arbiter (as this node's view has it). */
  replicaSet(jobId: string): string[] {
    return this.jobs.replicaSet(jobId)
  }

  jobRecord(id: string): JobRecord | undefined {
    return this.jobs.record(id)
  }

  get stats(): MembershipStats & JobsStats {
    return { ...this.membership.stats, ...this.jobs.stats }
  }
}
