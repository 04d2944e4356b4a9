// The arbiter: the first live storing node of a job decides it. `reconcile` (reconcile.ts) says
// what the job needs; this file carries it out: runs on nodes that are gone become lost, claims
// of a cancelled job close, a drain move finishes, and each attempt to place is ranked by the
// placement pipeline (src/placement) on this node's view of the cell and claimed for the best
// candidate at once, in the same step. The nodes that store the job come first when they fit
// (they hold it already, so running it there costs no copy). A claim's start waits for the
// other storing nodes (job-grants.ts); its runner checks its own books before it starts.
import { checkFeasibility, rankNodes, type PlacementJob, type PlacementResult } from '../placement/index.js'
import type { CapacityView } from './capacity-view.js'
import { live, type JobBook } from './job-book.js'
import type { Grants } from './job-grants.js'
import { allocationId, toNodeView } from './job-status.js'
import { isTerminalAlloc } from './job-merge.js'
import { cutOffFor } from './partition-policy.js'
import type { Allocation, JobRecord } from './job-types.js'
import { reconcile, type Action, type ReconcileView } from './reconcile.js'
import { WakeRoom } from './wake-room.js'
import type { Effect, Millis, NodeId, NodeRecord } from './types.js'

type NodeViews = ReturnType<typeof toNodeView>[]

const NO_NODES: ReadonlySet<NodeId> = new Set()
/**
 * The known open runs of a job that has none (every waiting job): one shared empty set, never
 * changed. A fresh empty Set per waiting job cost ~270 bytes each (its hash table starts with
 * room for a few entries), a third of what a queued job kept on its storing node.
 */
const NO_RUNS: ReadonlySet<string> = new Set()
/**
 * A death another node declared counts this long after we learnt it (see goneAt): a healed
 * partition brings the other side's verdicts about members we see answering, and their
 * refutation arrives within a round trip (12 ms in the lab). Short next to the detector's second.
 */
const DEATH_GRACE_MS = 300
/**
 * After this node sees most of the cluster again (a partition that cut it off healed), it decides
 * nothing for this long: its copies of jobs lack what the other side did meanwhile (the state
 * exchange brings it within a round or two), and the deaths it declared while cut off are of
 * members the others saw alive all along (their refutations come within a few probe rounds).
 * Deciding at once, the first arbiter back in the majority marked their runs lost, claimed
 * attempts the other side had already used, and started copies the heal then had to stop.
 */
export const REJOIN_GRACE_MS = 3_000
/**
 * The deaths this node declared itself while it saw less than most of the cluster are doubted
 * this long after it sees most of it again: the others may have seen those members alive all
 * along, and such a member refutes only once the verdict reaches it (the push-pull with members
 * held dead runs every reconnectIntervalMs, 10 s on a LAN). A member that really died meanwhile is
 * replaced this much later, by this node; the others were not cut off and did not wait.
 */
export const DOUBT_OWN_DEATHS_MS = 15_000
/** A waiting job's changed pending reason is written at most this often (see place). */
const REASON_REFRESH_MS = 5_000

/** A node's free capacity with room held for this job counted back in (the hold is for it). */
function addHeld(free: { cpu: number; memoryMb: number }, need: { cpu: number; memoryMb: number }): { cpu: number; memoryMb: number } {
  return { cpu: free.cpu + need.cpu, memoryMb: free.memoryMb + need.memoryMb }
}

export class Arbiter {
  /**
   * Nodes holding room for a new job's first instance since its admission (admission.ts): its
   * first placement goes there first. Dropped at that placement, or when the job ends.
   */
  private readonly reservedFor = new Map<string, NodeId>()
  /** When each waiting job's pending reason was last written. */
  private readonly reasonAt = new Map<string, Millis>()
  /** Per job, the open runs we knew while their nodes were in sight (see ReconcileView.known). */
  private readonly knownOpen = new Map<string, ReadonlySet<string>>()
  /** Runs noted by reconcile (first heard of on a gone node, or taken for lost by another node): when. */
  private readonly noted = new Map<string, Millis>()
  /** Members out of sight (not live): since when we know it. */
  private readonly goneSince = new Map<NodeId, Millis>()
  /** Consecutive placements of an instance that found no room: its retries back off. */
  private readonly misses = new Map<string, number>()
  private readonly nextTryAt = new Map<string, Millis>()
  /** When this node's first tick came: a bound on how long a member can be unknown to it. */
  private upSince: Millis | null = null
  /** Whether the member table showed most members live when last looked at (see noteMajority). */
  private sawMajority = true
  private majorityCheckedAt = -1
  /** When this node last came back to seeing most members live (-Infinity: never lost sight). */
  private rejoinedAt = -Infinity
  /** Members this node declared dead while it saw less than most of the cluster (see DOUBT_OWN_DEATHS_MS). */
  private readonly doubted = new Set<NodeId>()
  /**
   * When each job next needs deciding, by its last decision (Infinity: only a change of its record
   * or of the member table matters), valid while the member table is at `wakeVersion`.
   * `unsettled`: the jobs of finite wake time, and `earliest` the least of them (null: recompute).
   */
  private readonly wake = new Map<string, Millis>()
  private wakeVersion = -1
  private readonly unsettled = new Map<string, Millis>()
  private earliest: Millis | null = Infinity
  private viewsTable = -1
  private viewsCapacity = -1
  private viewsCache: NodeViews = []
  /** Where each member is in viewsCache. */
  private readonly viewIndex = new Map<NodeId, number>()
  /** The records viewsCache was built from, in its order. */
  private viewRecords: readonly NodeRecord[] = []
  /**
   * Why instances of a shape found no room in the views `pool` (unchanged while nothing they say
   * changed): in a full cell every retry of every waiting instance ranked the whole cell again.
   */
  private noRoom: { pool: NodeViews | null; reasons: Map<string, string> } = { pool: null, reasons: new Map() }

  constructor(private readonly book: JobBook, private readonly grants: Grants, private readonly capacity: CapacityView) {
    this.view = {
      now: 0,
      self: this.book.members.selfId,
      goneAt: (id) => this.goneAt(id, this.view.now),
      goneWhy: (id) => this.book.members.record(id)?.state ?? 'gone',
      known: (id) => this.viewKnown.has(id),
      notedAt: (id) => this.noted.get(id),
      draining: (id) => this.book.members.record(id)?.draining === true,
      startState: (id) => this.grants.state(id),
      retryAt: (key) => this.nextTryAt.get(key) ?? 0,
    }
  }

  /**
   * The members as placement sees them: their records, with free capacity as we know it now.
   * Rebuilt when a record changes; when only capacity figures do (every claim, every answer),
   * only those members' views are replaced, in a new array (placement never changes one).
   */
  views(): NodeViews {
    const table = this.book.members.tableVersion()
    if (table !== this.viewsTable) {
      // The member table changed, most often one record of it: a view is kept when its record is
      // the same object at the same place and its capacity figure did not change since it was
      // built (it is what building it again would give), instead of a cell of new views at the
      // next admission or placement after any member's change.
      const changed = this.capacity.takeChanged()
      const records = this.book.members.records()
      const before = this.viewRecords
      const kept = this.viewsCache
      let moved = records.length !== before.length
      this.viewsCache = records.map((r, i) => {
        if (before[i] === r && !changed.has(r.id)) return kept[i] as NodeViews[number]
        if (before[i]?.id !== r.id) moved = true
        return this.viewOf(toNodeView(r))
      })
      if (moved) {
        this.viewIndex.clear()
        records.forEach((r, i) => this.viewIndex.set(r.id, i))
      }
      this.viewRecords = records
      this.viewsTable = table
      this.viewsCapacity = this.capacity.version()
    } else if (this.capacity.version() !== this.viewsCapacity) {
      const next = this.viewsCache.slice()
      for (const id of this.capacity.takeChanged()) {
        const i = this.viewIndex.get(id)
        const r = i === undefined ? undefined : this.book.members.record(id)
        if (i !== undefined && r !== undefined) next[i] = this.viewOf(toNodeView(r))
      }
      this.viewsCache = next
      this.viewsCapacity = this.capacity.version()
    }
    return this.viewsCache
  }

  private viewOf(v: ReturnType<typeof toNodeView>): ReturnType<typeof toNodeView> {
    const free = this.capacity.free(v.id, v.free)
    return free === v.free ? v : { ...v, free }
  }

  noteTick(now: Millis): void {
    this.upSince ??= now
    this.noteMajority(now)
  }

  /** Notes when this node comes back to seeing most of the cluster's members live. */
  private noteMajority(now: Millis): void {
    const m = this.book.members
    const version = m.liveVersion()
    if (version === this.majorityCheckedAt) return
    this.majorityCheckedAt = version
    let known = 0
    for (const r of m.records()) if (r.state !== 'left') known++
    const sees = (m.liveOthers().length + 1) * 2 > known
    if (sees && !this.sawMajority) {
      this.rejoinedAt = now
      this.doubted.clear()
      for (const r of m.records()) if (r.state === 'dead' && r.by === m.selfId) this.doubted.add(r.id)
    }
    this.sawMajority = sees
  }

  /** When this node's first tick came (null before it): how long it has been up. */
  upSinceAt(): Millis | null {
    return this.upSince
  }

  /** Is this node the job's arbiter (its first live storing node)? */
  isArbiterOf(jobId: string): boolean {
    return this.book.replicaSet(jobId)[0] === this.book.members.selfId
  }

  /** A node holds room for job `jobId`'s first instance. */
  reserved(jobId: string, node: NodeId): void {
    this.reservedFor.set(jobId, node)
  }

  /** Capacity or a finished run may let a waiting instance in: rank it again now. */
  retryNow(jobId: string, count: number): void {
    for (let i = 0; i < count; i++) {
      this.nextTryAt.delete(`${jobId}/${i}`)
      this.misses.delete(`${jobId}/${i}`)
    }
    this.changed(jobId)
  }

  /**
   * Capacity freed somewhere: the waiting instances that the room in our view can take, in the
   * order they began waiting, retry now (wake-room.ts); the others keep their timed retry.
   * All the room, not only the node that said it has more: room also comes back without a word
   * (a claim refused or settled), and was only ever found by a retry. Returns the jobs woken.
   */
  retryWaiting(): string[] {
    // Asked whenever a node's figure shows more room (most answers): usually nothing waits.
    if (this.nextTryAt.size === 0 && this.misses.size === 0) return []
    const room = new WakeRoom(this.views())
    const jobs = new Set<string>()
    // Map order is insertion order: a key keeps its place through its misses until it is placed.
    for (const key of this.nextTryAt.keys()) {
      if (room.empty()) break
      const jobId = key.slice(0, key.lastIndexOf('/'))
      const spec = this.book.get(jobId)?.spec
      if (spec !== undefined && !room.take(spec.resources, spec.constraints)) continue
      this.nextTryAt.delete(key)
      this.misses.delete(key)
      jobs.add(jobId)
    }
    for (const id of jobs) this.changed(id)
    return [...jobs]
  }

  // --- the loop -----------------------------------------------------------------------------------

  /**
   * The tick's pass over a job: skipped until the time its last decision named, or until its
   * record or the member table changes. Most active jobs have every instance running.
   */
  onTick(r: JobRecord, now: Millis, out: Effect[]): void {
    const version = this.book.members.tableVersion()
    if (version !== this.wakeVersion) {
      this.wake.clear()
      this.wakeVersion = version
      this.earliest = null
    }
    if ((this.wake.get(r.id) ?? -Infinity) <= now) this.arbitrate(r, now, out)
  }

  /** The member table changed since the tick's last pass: every job is to be decided again. */
  stale(): boolean {
    return this.wakeVersion !== this.book.members.tableVersion()
  }

  /** The earliest time one of the jobs in both `active` and `mine` needs deciding (Infinity: none). */
  earliestWake(active: ReadonlySet<string>, mine: ReadonlySet<string>): Millis {
    if (this.earliest !== null) return this.earliest
    let at = Infinity
    // forEach, not for-of: an entry array per job per recount was most of a full cell's garbage
    // once a freed slot stopped waking every waiting job (all of them are here, with a retry time).
    this.unsettled.forEach((w, id) => {
      if (!active.has(id) || !mine.has(id)) this.unsettled.delete(id)
      else if (w < at) at = w
    })
    this.earliest = at
    return at
  }

  /**
   * Whether the tick's pass would decide none of `mine`: no job's last decision named a time
   * before now, none changed since, and neither did the member table (the pass then finds every
   * job's wake time later than now). Most ticks are the membership's probes; walking every
   * active job for them found nothing to do.
   */
  nothingDue(active: ReadonlySet<string>, mine: ReadonlySet<string>, now: Millis): boolean {
    return !this.stale() && this.earliestWake(active, mine) > now
  }

  /** A job ended: nothing of it is to be decided again, and nothing kept per instance. */
  settle(r: JobRecord): void {
    this.forget(r.id, r.spec.count)
  }

  /** Forget everything kept for a job (it ended, or was collected). */
  forget(jobId: string, count: number): void {
    this.reservedFor.delete(jobId)
    this.reasonAt.delete(jobId)
    this.knownOpen.delete(jobId)
    for (const id of this.noted.keys()) if (id.startsWith(`${jobId}.`)) this.noted.delete(id)
    this.wake.delete(jobId)
    this.setUnsettled(jobId, Infinity)
    for (let index = 0; index < count; index++) {
      const key = `${jobId}/${index}`
      this.nextTryAt.delete(key)
      this.misses.delete(key)
    }
  }

  /** Entries the arbiter keeps per instance (tests: none once every job ended). */
  heldEntries(): number {
    return this.nextTryAt.size + this.misses.size + this.reservedFor.size + this.reasonAt.size + this.knownOpen.size + this.noted.size
  }

  /** Sets of known open runs kept, one per job with open runs (tests: waiting jobs share none). */
  knownRunSets(): number {
    let n = 0
    for (const known of this.knownOpen.values()) if (known !== NO_RUNS) n++
    return n
  }

  /** The job's record changed: the next pass decides it again, if we decide it. */
  changed(jobId: string): void {
    this.wake.delete(jobId)
    if (this.isArbiterOf(jobId)) this.setUnsettled(jobId, -Infinity)
  }

  arbitrate(r: JobRecord, now: Millis, out: Effect[]): void {
    const m = this.book.members
    this.noteMajority(now)
    if (cutOffFor(r, m, this.book.config.replicas) !== null) {
      // The side that sees most of the job's storing nodes runs it (partition-policy.ts): we
      // decide nothing until we see them again (a change of the member table).
      this.wake.set(r.id, Infinity)
      this.setUnsettled(r.id, Infinity)
      return
    }
    const settled = this.rejoinedAt + REJOIN_GRACE_MS
    if (now < settled) {
      this.wake.set(r.id, settled)
      this.setUnsettled(r.id, settled)
      return
    }
    const known = this.knownOpen.get(r.id) ?? this.noteRuns(r)
    const { actions, wakeAt } = reconcile(r, this.reconcileView(now, known))
    this.noteRuns(r)
    let at = wakeAt
    // Nodes claimed in this pass hold an instance too: the next one goes elsewhere if it can.
    const chosen: NodeId[] = []
    for (const action of actions) {
      const retry = this.execute(r, action, chosen, now, out)
      if (retry !== null) at = Math.min(at, retry)
    }
    this.wake.set(r.id, at)
    this.setUnsettled(r.id, at)
  }

  /**
   * A job we store changed (or is decided): its open runs on nodes in sight are known from now
   * on, and those we knew stay known while open; the first time, every open run counts as known.
   * Kept for every active job we store (its next arbiter is one of its storing nodes), arbiter
   * or not: the arbiter a death makes must know the runs that began while another node decided
   * the job, or it takes them for runs of the other side of a partition and waits
   * UNKNOWN_LOST_AFTER_MS before replacing them.
   */
  noteRuns(r: JobRecord): ReadonlySet<string> {
    const known = this.knownOpen.get(r.id)
    let next: Set<string> | null = null
    for (const a of Object.values(r.allocations)) {
      if (isTerminalAlloc(a.state)) continue
      const id = allocationId(r.id, a.index, a.attempt)
      const node = this.book.members.record(a.nodeId)
      // A node we do not know yet, before our first tick, is not gone (see goneAt).
      if (known === undefined || known.has(id) || live(node) || (node === undefined && this.upSince === null)) (next ??= new Set()).add(id)
    }
    const kept = next ?? NO_RUNS
    this.knownOpen.set(r.id, kept)
    return kept
  }

  /** What reconcile reads for this pass (see `view`). */
  private reconcileView(now: Millis, known: ReadonlySet<string>): ReconcileView {
    this.view.now = now
    this.viewKnown = known
    return this.view
  }

  /**
   * One view for every pass, its `now` and open runs set before each: reconcile keeps nothing of
   * it, and a new object with nine closures per pass was garbage every step that changed a job.
   */
  private viewKnown: ReadonlySet<string> = NO_NODES
  private readonly view: ReconcileView

  /**
   * When the node of a run counts as gone (Infinity while it is live). Dead or left in our view:
   * at once when we declared it ourselves (or it left), DEATH_GRACE_MS after we learnt it when
   * another node did (a refutation may follow). A node we do not know at all is gone only once we
   * have been up long enough to have heard of every member (a node that just restarted knows
   * nobody yet, and must not declare every run elsewhere lost).
   */
  private goneAt(id: NodeId, now: Millis): Millis {
    const r = this.book.members.record(id)
    if (r === undefined) return this.upSince === null ? Infinity : this.upSince + this.book.config.unknownNodeGraceMs
    if (live(r)) { this.goneSince.delete(id); this.doubted.delete(id); return Infinity }
    let since = this.goneSince.get(id)
    if (since === undefined) this.goneSince.set(id, since = now)
    if (this.doubted.has(id) && r.by === this.book.members.selfId) {
      if (now < this.rejoinedAt + DOUBT_OWN_DEATHS_MS) return this.rejoinedAt + DOUBT_OWN_DEATHS_MS
      this.doubted.delete(id)
    }
    return r.state === 'left' || r.by === this.book.members.selfId ? since : since + DEATH_GRACE_MS
  }

  /** Carry out one action; returns when to look again when it found no room (else null). */
  private execute(r: JobRecord, action: Action, chosen: NodeId[], now: Millis, out: Effect[]): Millis | null {
    switch (action.kind) {
      case 'mark-lost':
        this.book.author({ id: r.id, allocs: [{ ...action.alloc, state: 'lost', finishedAt: now, reason: action.reason, lostBy: this.book.members.selfId }] }, now, out)
        this.capacity.settle(action.alloc.nodeId, allocationId(r.id, action.alloc.index, action.alloc.attempt))
        return null
      case 'close-claim':
        this.book.author({ id: r.id, allocs: [{ ...action.alloc, state: 'cancelled', finishedAt: now, reason: 'job cancelled before it started' }] }, now, out)
        return null
      case 'note':
        this.noted.set(allocationId(r.id, action.alloc.index, action.alloc.attempt), now)
        // The run's node may not have heard that others took its run for lost: tell it now.
        if (action.ask) this.book.outbox.add(action.alloc.nodeId, { id: r.id, allocs: [action.alloc] })
        return null
      case 'resend-start':
        this.grants.takeOver({ id: r.id, index: action.alloc.index, attempt: action.alloc.attempt }, action.alloc.nodeId, now)
        return null
      case 'stop-moved':
        this.book.stats.drainMoves++
        this.book.author({ id: r.id, allocs: [{ ...action.old, state: 'cancelled', finishedAt: now, reason: `moved to ${action.by.nodeName}: node ${action.old.nodeName} is draining` }] }, now, out)
        return null
      case 'place':
        return this.place(r, action, chosen, now, out)
    }
  }

  /** Rank the cell for one attempt and claim it for the best candidate, or say why it must wait. */
  private place(r: JobRecord, action: Extract<Action, { kind: 'place' }>, chosen: NodeId[], now: Millis, out: Effect[]): Millis | null {
    const key = `${r.id}/${action.index}`
    const job: PlacementJob = { id: r.id, resources: r.spec.resources, constraints: r.spec.constraints }
    const avoid = new Set([...action.avoid, ...chosen])
    const from = action.replaces?.nodeId
    // The first instance goes where room was held for it at admission, when that node fits.
    const reserved = action.index === 0 ? this.reservedFor.get(r.id) : undefined
    if (reserved !== undefined) this.reservedFor.delete(r.id)
    const trusted = this.trustedViews(now, reserved)
    const ranked = this.rank(job, `${r.id}/${action.index}/${action.attempt}`, avoid, from, r, trusted, reserved)
    const candidate = ranked.candidates.find((c) => c.nodeId !== from)
    // No room in the view: nodes we have not heard from lately may have some. Their answers come
    // back as capacity, which wakes the waiting instances that fit it (Jobs.heardCapacity).
    if (candidate === undefined && this.ask(job, now, out)) return now + this.book.config.placementRetryMs
    if (candidate === undefined) {
      // A move with nowhere to go waits for the drain deadline; a new run says why it waits.
      // A new reason goes to the storing nodes at once, a changed one at most every
      // REASON_REFRESH_MS: its figures move with every start and end in a full cell. It is said
      // of every node we know, not only those whose capacity we heard of lately (a node whose
      // figure is old still lacks what it lacked, and one that would fit was asked); ranked
      // again only when it may be written, since a full cell retries often.
      const due = action.replaces === undefined && (r.pendingReason === '' || now - (this.reasonAt.get(r.id) ?? -Infinity) >= REASON_REFRESH_MS)
      const overAll = due && trusted.length < this.views().length ? this.rank(job, `${r.id}/${action.index}/${action.attempt}`, avoid, from, r, this.views()) : ranked
      const reason = (overAll.candidates.length === 0 ? overAll.pendingReason : undefined) ?? ranked.pendingReason ?? 'every node that could take it is its draining node'
      if (due && reason !== r.pendingReason) {
        this.reasonAt.set(r.id, now)
        this.book.author({ id: r.id, reason: { text: reason, version: r.reasonVersion + 1 } }, now, out)
      }
      const misses = (this.misses.get(key) ?? 0) + 1
      this.misses.set(key, misses)
      this.book.stats.noRoomPasses++
      // Nothing on the wire to retry (the view is local): every placementRetryMs, backing off to
      // 4x while it keeps finding no room, and at once when capacity frees (retryNow).
      const retryAt = now + this.book.config.placementRetryMs * 2 ** Math.min(2, misses - 1)
      this.nextTryAt.set(key, retryAt)
      return retryAt
    }
    this.misses.delete(key)
    this.nextTryAt.delete(key)
    const node = candidate.nodeId
    chosen.push(node)
    const claim: Allocation = {
      index: action.index, attempt: action.attempt, nodeId: node, nodeName: this.book.members.record(node)?.name ?? node,
      state: 'claimed', exitCode: null, startedAt: null, finishedAt: null,
      ...(action.replaces === undefined ? {} : { replaces: action.replaces.attempt }),
    }
    this.book.stats.placed++
    const reason = r.pendingReason === '' ? {} : { reason: { text: '', version: r.reasonVersion + 1 } }
    this.book.note({ id: r.id, allocs: [claim], ...reason }, now, out)
    const ref = { id: r.id, index: action.index, attempt: action.attempt }
    this.capacity.claim(node, allocationId(r.id, action.index, action.attempt), r.spec.resources)
    this.grants.open(ref, node, now)
    return null
  }

  /**
   * The views placement ranks: members whose capacity figure is recent (capacity-view.ts
   * TRUST_MS), ourselves, and a node that holds room for this job. Kept while the views and the
   * set of trusted members stand (most placements of a burst rank the same pool).
   */
  private trustedViews(now: Millis, reserved: NodeId | undefined): NodeViews {
    const views = this.views()
    const self = this.book.members.selfId
    const ids: string[] = []
    const pool = views.filter((v) => {
      const ok = v.id === self || v.id === reserved || this.capacity.trusted(v.id, now)
      if (ok) ids.push(v.id)
      return ok
    })
    // The same members (the same id strings, in the views' order) as last time: the same pool. Compared
    // id by id: joining a cell's ids into a key cost a few KB of string per placement.
    const c = this.trustedCache
    if (c !== null && c.of === views && sameIds(c.ids, ids)) return c.pool
    this.trustedCache = { of: views, ids, pool }
    return pool
  }

  private trustedCache: { of: NodeViews; ids: string[]; pool: NodeViews } | null = null

  /**
   * Ask the nodes that could run `job` by their totals, labels and drain flag, and whose word on
   * their capacity is not fresh, up to placementSample of them. False when there is none to ask:
   * the view is as fresh as asking would make it, and the instance waits for room.
   */
  private ask(job: PlacementJob, now: Millis, out: Effect[]): boolean {
    let asked = 0
    const self = this.book.members.selfId
    for (const v of this.views()) {
      if (asked >= this.book.config.placementSample) break
      if (v.id === self || !this.capacity.askable(v.id, now)) continue
      if (checkFeasibility({ job, node: { ...v, free: v.total }, exclude: NO_NODES, excludeDetail: '' }) !== undefined) continue
      this.capacity.asking(v.id, now)
      this.book.stats.capacityAsks++
      this.book.send(out, v.id, { type: 'capacity' }, this.book.config.readTimeoutMs, { purpose: 'capacity', node: v.id })
      asked++
    }
    return asked > 0
  }

  /**
   * Rank the cell for one instance, avoiding nodes that hold the job's other instances unless
   * only they fit. A shape that found no room in this very pool finds none
   * again: its reason is kept.
   */
  private rank(job: PlacementJob, allocKeyStr: string, avoid: ReadonlySet<NodeId>, from: NodeId | undefined, r: JobRecord, trusted: NodeViews, reserved?: NodeId): PlacementResult {
    const pool = reserved === undefined ? trusted : trusted.map((v) => (v.id === reserved ? { ...v, free: addHeld(v.free, job.resources) } : v))
    const exclude = from === undefined ? avoid : new Set([...avoid, from])
    const shape = job.constraints.length === 0 && reserved === undefined ? `${job.resources.cpu}/${job.resources.memoryMb}/${[...exclude].sort().join(',')}` : undefined
    if (this.noRoom.pool !== pool) this.noRoom = { pool, reasons: new Map() }
    const known = shape === undefined ? undefined : this.noRoom.reasons.get(shape)
    if (known !== undefined) return { candidates: [], rejected: [], pendingReason: known }
    // Batch runs pack, their storing nodes first among nodes as full (placement's packSample);
    // services spread by capacity, so that one dead node takes few of them down.
    const opts = r.spec.type === 'batch' ? { sample: this.book.config.placementSample, prefer: this.book.replicaSet(r.id) } : {}
    let ranked = rankNodes(job, allocKeyStr, pool, { ...opts, exclude })
    // Instances go to different nodes: before two share one, an older figure of a node that holds
    // none is taken (at worst its start is refused and the instance placed again).
    if (ranked.candidates.length === 0 && avoid.size > 0) ranked = rankNodes(job, allocKeyStr, this.views(), { ...opts, exclude })
    if (ranked.candidates.length === 0 && avoid.size > 0) ranked = rankNodes(job, allocKeyStr, pool, from === undefined ? opts : { ...opts, exclude: new Set([from]) })
    // Room held for it is a promise: that node first, whatever the ranking says.
    const held = reserved === undefined ? -1 : ranked.candidates.findIndex((c) => c.nodeId === reserved)
    if (held > 0) ranked.candidates.unshift(...ranked.candidates.splice(held, 1))
    if (shape !== undefined && ranked.candidates.length === 0 && ranked.pendingReason !== undefined && this.noRoom.reasons.size < 256) {
      this.noRoom.reasons.set(shape, ranked.pendingReason)
    }
    return ranked
  }

  private setUnsettled(jobId: string, at: Millis): void {
    const before = this.unsettled.get(jobId)
    if (at === Infinity) this.unsettled.delete(jobId)
    else this.unsettled.set(jobId, at)
    if (this.earliest === null) return
    if (at < this.earliest) this.earliest = at
    else if (before !== undefined && before <= this.earliest && at > before) this.earliest = null
  }
}

function sameIds(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
