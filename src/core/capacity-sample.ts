// Sampled capacity: placement without a capacity view. While a node's free capacity is gossiped
// (small clusters and cells, JobsConfig.gossipMaxNodes), every arbiter ranks all nodes by what
// they announced. Above that, announcing every start and end to every member costs each node
// O(members x job rate) (109 of 134 KB/s per node under load at 100 nodes in the simulator), so
// nothing is announced and the arbiter asks instead: for each instance to place it asks k nodes
// (a seeded uniform draw among those whose totals, labels and drain flag admit the job) for
// their free capacity, one round trip, and ranks those answers as it would rank a full view: the
// tightest fit for batch jobs, capacity-weighted rendezvous for services (power of k choices).
// A sample serves its instance for freshMs; when every node in it turned the offer down, or it
// is stale, the next round asks k others (the draw's seed changes with the round).
import { checkFeasibility, type rankNodes } from '../placement/index.js'
import { live, type JobBook } from './job-book.js'
import { Rng, seedFromString } from './rng.js'
import type { toNodeView } from './job-status.js'
import type { Effect, Millis, NodeId, Resources, RpcResponse } from './types.js'

type NodeView = ReturnType<typeof toNodeView>

interface Sample {
  at: Millis
  round: number
  waiting: number
  free: Map<NodeId, Resources>
  /** Nodes asked in this round. */
  width: number
}

type Job = Parameters<typeof rankNodes>[0]
type Rejected = (node: NodeId) => boolean

/** No node turned the instance down lately (most instances): the feasible nodes need no filtering. */
export const NONE_REJECTED: Rejected = () => false

/** How long answers stay good for ranking: a few round trips; capacity moves with every start and end. */
const FRESH_MS = 500
const NO_NODES: ReadonlySet<NodeId> = new Set()
/** How long a full scan that found no room stands for every instance it cannot fit (see `full`). */
const FULL_MEMORY_MS = 10_000
/** Most nodes a full scan may have for it to be shared with the cell (the wire schema's bound). */
export const SHARE_MAX_NODES = 2_000
/** How long after admission its reservation directs the first offer (reservations live 10 s). */
const RESERVED_MS = 2_000

/**
 * `width` of `ok`, drawn without replacement by a generator seeded with `seed` (the instance and
 * round): a uniform sample that differs per round, O(width) draws instead of hashing and sorting
 * the whole cell per ask. All of them, in order, when `width` covers them.
 */
export function drawNodes(seed: string, ok: readonly NodeView[], width: number): NodeId[] {
  if (width >= ok.length) return ok.map((v) => v.id)
  const rng = new Rng(seedFromString(seed))
  const pool = ok.slice()
  const out: NodeId[] = []
  for (let i = 0; i < width; i++) {
    const j = i + rng.int(pool.length - i)
    const v = pool[j] as NodeView
    pool[j] = pool[i] as NodeView
    out.push(v.id)
  }
  return out
}

export class CapacitySampler {
  private readonly samples = new Map<string, Sample>()
  private fitFor: NodeView[] | null = null
  private readonly fits = new Map<string, NodeView[]>()
  /** Instances for which asking every feasible node found no room: when it last happened. */
  private readonly fullScanFailed = new Map<string, Millis>()
  /**
   * The answers of this arbiter's last full scan that found no room (every feasible node asked),
   * kept current by later answers and by our own offers. For FULL_MEMORY_MS every unconstrained
   * instance is ranked on it instead of sampled: when a cell filled up, each waiting instance
   * widened to the whole cell on its own, ~200 requests per instance (300 s of wall time per
   * simulated second at 10,000 nodes). `views` is what pool() returns for it, built once per
   * change of the memory or of the member views (every retry of every waiting instance built it).
   */
  private full: { at: Millis; free: Map<NodeId, Resources>; views: { of: NodeView[]; list: NodeView[] } | null } | null = null
  /** The node that reserved a new job's first instance at admission (admission.ts), oldest first (see takeReserved). */
  private readonly reservedBy = new Map<string, { at: Millis; node: NodeId }>()
  /** Changes whenever `full` does (a cache key for what is read from it). */
  private fullVersion = 0
  /** Every node's last answer, for FRESH_MS (see ask). */
  private readonly recent = new Map<NodeId, { free: Resources; at: Millis }>()

  constructor(private readonly book: JobBook) {}

  /**
   * The nodes to rank for instance `key` (its sampled answers), or null while a sample is out.
   * `rejected` tells which nodes turned this instance down lately.
   */
  pool(key: string, jobId: string, job: Job, all: () => NodeView[], exclude: ReadonlySet<NodeId>, rejected: Rejected, now: Millis, out: Effect[]): NodeView[] | null {
    let s = this.samples.get(key)
    if (s === undefined && this.reservedBy.size > 0 && key === `${jobId}/0`) {
      // A new job whose first instance a node reserved at admission: the offer goes there (as to
      // a node with just enough room), and the reservation takes it. The offer's round trip stays:
      // an arbiter that thawed from a freeze learns meanwhile of a grant made while it was away.
      const node = this.takeReserved(jobId, now)
      if (node !== undefined) this.samples.set(key, s = { at: now, round: 0, waiting: 0, free: new Map([[node, job.resources]]), width: 1 })
    }
    if (s !== undefined && s.waiting > 0 && now - s.at <= 2 * this.book.config.offerTimeoutMs) return null
    if (s !== undefined && s.waiting <= 0 && now - s.at <= FRESH_MS && [...s.free.keys()].some((n) => !rejected(n))) {
      return all().filter((v) => s.free.has(v.id)).map((v) => ({ ...v, free: s.free.get(v.id) as Resources }))
    }
    const full = this.full
    if (full !== null && now - full.at <= FULL_MEMORY_MS && job.constraints.length === 0 &&
      this.fitting(job, all()).every((v) => full.free.has(v.id))) {
      // Ranked on what the last full scan, later answers and our own placements since say: where
      // it fits, the offer goes straight to the best fit (the node's own books still decide);
      // where it fits nowhere, the pending reason says why. No asks while the cell is full.
      const views = all()
      if (full.views?.of !== views) full.views = { of: views, list: views.filter((v) => full.free.has(v.id)).map((v) => ({ ...v, free: full.free.get(v.id) as Resources })) }
      return full.views.list
    }
    return this.ask(key, jobId, job, all, exclude, rejected, this.k(), now, out)
  }

  /**
   * The sample had no room: ask twice as many others at once, up to every feasible node, rather
   * than call the cell full because 8 nodes were. Once asking all of them found nothing, the
   * instance waits for its retries (a narrow sample each) for 10 s before the next full round.
   * Returns false when the instance should wait (its pending reason then says why).
   */
  widen(key: string, jobId: string, job: Job, all: () => NodeView[], exclude: ReadonlySet<NodeId>, rejected: Rejected, now: Millis, out: Effect[]): boolean {
    const s = this.samples.get(key)
    if (s === undefined || s.waiting > 0) return false
    if (now - (this.fullScanFailed.get(key) ?? -Infinity) < 10_000) return false
    const feasible = this.feasible(job, all, exclude, rejected).length
    if (s.width >= feasible) {
      this.fullScanFailed.set(key, now)
      // Only what an unconstrained job saw stands for others (a constrained one saw a subset).
      // Nodes left out of the last round (they turned this instance down) by their last answer.
      if (job.constraints.length === 0) {
        const free = new Map(s.free)
        for (const [n, r] of this.recent) if (!free.has(n) && now - r.at <= FULL_MEMORY_MS) free.set(n, r.free)
        this.scanned(free, now, out)
      }
      this.samples.delete(key)
      return false
    }
    return this.ask(key, jobId, job, all, exclude, rejected, 2 * s.width, now, out) === null
  }

  private k(): number {
    return this.book.config.placementSample > 0 ? this.book.config.placementSample : 8
  }

  /**
   * Nodes whose totals, labels and drain flag admit the job (static facts), in rendezvous order
   * for this round: a uniform sample (best fit then picks among it), cheap to draw.
   */
  private feasible(job: Job, all: () => NodeView[], exclude: ReadonlySet<NodeId>, rejected: Rejected): NodeView[] {
    const fit = this.fitting(job, all())
    // The shared list itself (draw copies before it shuffles): a filtered copy of the cell per ask was 4% of a burst.
    if (rejected === NONE_REJECTED && exclude.size === 0) return fit
    const pass = (excluded: ReadonlySet<NodeId>): NodeView[] => fit.filter((v) => !rejected(v.id) && !excluded.has(v.id))
    const ok = pass(exclude)
    return ok.length === 0 && exclude.size > 0 ? pass(NO_NODES) : ok
  }

  /**
   * The nodes whose totals, labels and drain flag admit a job of this shape, kept per views array
   * (the arbiter keeps one per member table version) and job shape: a cell's waiting jobs come in
   * few shapes, and each retry filtered the whole cell again.
   */
  fitting(job: Job, views: NodeView[]): NodeView[] {
    if (this.fitFor !== views) {
      this.fitFor = views
      this.fits.clear()
    }
    const shape = JSON.stringify([job.resources, job.constraints])
    let fit = this.fits.get(shape)
    if (fit === undefined) {
      fit = views.filter((v) => checkFeasibility({ job, node: { ...v, free: v.total }, exclude: NO_NODES, excludeDetail: '' }) === undefined)
      if (this.fits.size >= 256) this.fits.clear()
      this.fits.set(shape, fit)
    }
    return fit
  }

  private ask(key: string, jobId: string, job: Job, all: () => NodeView[], exclude: ReadonlySet<NodeId>, rejected: Rejected, width: number, now: Millis, out: Effect[]): NodeView[] | null {
    const round = (this.samples.get(key)?.round ?? 0) + 1
    const picks = drawNodes(`${key}#${round}`, this.feasible(job, all, exclude, rejected), width)
    // Nothing can ever take it as things stand: rank the static view, which says why.
    if (picks.length === 0) return all().map((v) => ({ ...v, free: v.total }))
    const s: Sample = { at: now, round, waiting: 0, free: new Map(), width }
    this.samples.set(key, s)
    for (const node of picks) {
      // A node another instance asked moments ago is not asked again: a burst of instances on one
      // arbiter shares its answers (an offer still checks the node's own books).
      const r = this.recent.get(node)
      if (r !== undefined && now - r.at <= FRESH_MS) { s.free.set(node, r.free); continue }
      s.waiting++
      this.book.stats.capacityAsks++
      this.book.send(out, node, { type: 'capacity' }, this.book.config.offerTimeoutMs, { purpose: 'capacity', key, jobId, node })
    }
    // Every answer at hand already: the instance is looked at again (as when the last answer comes).
    if (s.waiting === 0) this.book.touch(jobId)
    return null
  }

  onAnswer(key: string, jobId: string, node: NodeId, msg: RpcResponse | null, now: Millis): void {
    const s = this.samples.get(key)
    if (s === undefined) return
    s.waiting--
    if (msg !== null && msg.type === 'capacity') {
      s.free.set(node, msg.free)
      this.heard(node, msg.free, now)
    }
    if (s.waiting > 0) return
    // Fresh from the last answer; the instance is looked at again in this step.
    s.at = now
    this.book.touch(jobId)
  }

  /**
   * An offer's answer, for the full-scan memory: a node that took an instance has that much less;
   * one that turned it down counts as having no room until the next full scan (it has less than
   * the memory says, and how much less only an ask would tell).
   */
  offerAnswered(node: NodeId, resources: Resources, ok: boolean): void {
    const f = this.full?.free.get(node)
    if (f === undefined || this.full === null) return
    this.full.free.set(node, ok ? { cpu: f.cpu - resources.cpu, memoryMb: f.memoryMb - resources.memoryMb } : { cpu: 0, memoryMb: 0 })
    this.full.views = null
    this.fullVersion++
  }

  /** A node reserved a new job's first instance at admission (see takeReserved). */
  reserved(jobId: string, node: NodeId, now: Millis): void {
    for (const [id, r] of this.reservedBy) {
      if (now - r.at <= RESERVED_MS) break
      this.reservedBy.delete(id)
    }
    this.reservedBy.delete(jobId)
    this.reservedBy.set(jobId, { at: now, node })
  }

  /** The node that reserved this job's first instance at admission, told within RESERVED_MS (well inside the reservation's life), once. */
  private takeReserved(jobId: string, now: Millis): NodeId | undefined {
    if (this.reservedBy.size === 0) return undefined
    const r = this.reservedBy.get(jobId)
    if (r === undefined) return undefined
    this.reservedBy.delete(jobId)
    return now - r.at <= RESERVED_MS ? r.node : undefined
  }

  /** An answer to someone else's ask (admission's): later samples use it as their own. */
  heard(node: NodeId, free: Resources, now: Millis): void {
    this.recent.set(node, { free, at: now })
    if (this.full?.free.has(node) === true) {
      this.full.free.set(node, free)
      this.full.views = null
      this.fullVersion++
    }
  }

  /**
   * What the last full scan that found no room says each of `nodes` has (later answers and our
   * offers included), or null when it is older than FULL_MEMORY_MS or does not cover them all.
   */
  remembered(nodes: readonly NodeView[], now: Millis): { free: ReadonlyMap<NodeId, Resources>; version: number } | null {
    const full = this.full
    if (full === null || now - full.at > FULL_MEMORY_MS || !nodes.every((v) => full.free.has(v.id))) return null
    return { free: full.free, version: this.fullVersion }
  }

  /**
   * Every feasible node was asked for an unconstrained job and none had room: remember their
   * answers, and tell the cell's other members. Each member asked to admit a job used to scan the
   * cell itself once its memory expired: near a full cluster, ~100 asks per member per 10 s.
   */
  scanned(free: Map<NodeId, Resources>, now: Millis, out: Effect[]): void {
    this.full = { at: now, free, views: null }
    this.fullVersion++
    if (free.size > SHARE_MAX_NODES) return
    const self = this.book.members.selfId
    const msg = { type: 'capacity-scan' as const, free: [...free].map(([n, r]): [NodeId, number, number] => [n, Math.max(0, r.cpu), Math.max(0, r.memoryMb)]) }
    for (const r of this.book.members.records()) {
      if (r.id !== self && live(r)) this.book.send(out, r.id, msg, this.book.config.storeTimeoutMs, { purpose: 'update' })
    }
  }

  /**
   * Another member's full scan that found no room: it stands here as our own would (and is kept
   * current the same way). Not passed on: only a node that scanned tells the cell.
   */
  adopt(free: ReadonlyArray<readonly [NodeId, number, number]>, now: Millis): void {
    this.full = { at: now, free: new Map(free.map(([n, cpu, memoryMb]) => [n, { cpu, memoryMb }])), views: null }
    this.fullVersion++
  }

  /** Per-instance entries kept (see Arbiter.heldEntries). */
  heldEntries(): number {
    return this.samples.size + this.fullScanFailed.size
  }

  /** The instance was placed (or its job is gone): forget its sample. */
  done(key: string): void {
    this.samples.delete(key)
    this.fullScanFailed.delete(key)
  }
}
