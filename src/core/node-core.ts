// The node's protocol core: one object per node, fed events with `now`, answering with effects.
// It composes the sub-machines (membership, jobs), routes events between them, and owns the
// seeded rng and the correlation ids they share.
import type { MembershipConfig } from './config.js'
import type { JobRecord, JobStatus } from './job-types.js'
import { Jobs, JOBS_DEFAULTS, type JobsConfig, type JobsStats } from './jobs.js'
import { Membership, type MembershipStats, type SelfInfo } from './membership.js'
import { Rng, seedFromString } from './rng.js'
import type { CoreEvent, Effect, Millis, NodeRecord, NodeStatus, Resources } from './types.js'

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
  /** Mixed with the node id so that simulated nodes differ but replay identically. */
  seed: number
  now: Millis
}

export class NodeCore {
  private readonly membership: Membership
  private readonly jobs: Jobs
  private corr = 1
  /** The membership live version the job machine last saw (see Jobs.onLiveChange). */
  private seenLive = 0
  private nextCapacityAt = 0
  private readonly capacityAnnounceMs: number

  private constructor(init: CoreInit, out: Effect[]) {
    const rng = new Rng(seedFromString(init.self.id) ^ init.seed)
    const nextCorr = (): number => this.corr++
    const view = {
      selfId: init.self.id,
      records: () => this.membership.records(),
      record: (id: string) => this.membership.record(id),
      selfRecord: () => this.membership.selfRecord(),
      liveVersion: () => this.membership.liveVersion(),
      setDraining: (draining: boolean, now: Millis, out: Effect[]) => this.membership.handle({ kind: 'self-update', patch: { draining } }, now, out),
    }
    this.jobs = new Jobs(view, nextCorr, init.jobsConfig ?? JOBS_DEFAULTS)
    this.capacityAnnounceMs = init.config.capacityAnnounceMs
    this.membership = new Membership(init.self, init.lastIncarnation, init.config, rng, init.now, out, nextCorr)
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
    switch (event.kind) {
      case 'tick':
        this.jobs.onTick(now, out)
        this.announceCapacity(now, out)
        this.membership.handle(event, now, out)
        break
      case 'gossip':
        if (event.msg.type === 'jobs') this.jobs.onGossip(event.msg.jobs, now, out)
        else this.membership.handle(event, now, out)
        break
      case 'rpc-request':
        if (!this.jobs.onRequest(event.from, event.reqId, event.msg, now, out)) this.membership.handle(event, now, out)
        break
      case 'rpc-response':
        this.jobs.onResponse(event.corr, event.msg, now, out)
        this.membership.handle(event, now, out)
        break
      case 'rpc-failed':
        this.jobs.onResponse(event.corr, null, now, out)
        this.membership.handle(event, now, out)
        break
      case 'api':
        this.jobs.onApi(event.reqId, event.req, now, out)
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
    return out
  }

  /** Free capacity is announced from the node's own books, not from what others think. */
  private announceCapacity(now: Millis, out: Effect[]): void {
    // While throttled the change stays pending, so the latest free capacity goes out next time.
    if (now < this.nextCapacityAt) return
    if (!this.jobs.takeCapacityChange()) return
    this.nextCapacityAt = now + this.capacityAnnounceMs
    const total = this.membership.selfRecord().resources.total
    const free: Resources = this.jobs.free()
    this.membership.handle({ kind: 'self-update', patch: { resources: { total, free }, allocations: this.jobs.localCount() } }, now, out)
  }

  nodes(now: Millis): NodeStatus[] {
    return this.membership.statuses(now)
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
