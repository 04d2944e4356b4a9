// Which nodes store a job: the live nodes ranked by rendezvous hash of the job id; the first ones
// are its replicas and the first live one its arbiter. Every node computes the same ranking from
// the same view, with no coordination. Rankings are cached until the live set changes, because
// the arbiter loop asks for them on every tick.
import { idHashes, keyedScorer, keyedScorerOfHashes } from '../placement/hash.js'
import type { NodeId } from './types.js'

/**
 * Rankings per live set, shared by every ReplicaRanking that sees the same one: a pure function of
 * (job, live set), so sharing changes no answer. In one process (the simulator) the members of a
 * cell agree on its live set almost always, and each job's storing nodes were computed by every
 * node that touched it (~6 per job, an O(cell) pass each).
 */
const shared = new Map<string, { cache: Map<string, NodeId[]>; hashes: { hi: Uint32Array; lo: Uint32Array } }>()
const MAX_LIVE_SETS = 1024
const MAX_JOBS_PER_SET = 200_000

/**
 * One array per distinct ranking, shared by every job ranked so (and by every live set: a ranking
 * is only its node ids). The cache keeps a ranking per job for as long as the job is held, ended
 * ones for their retention window, and a cluster of a few nodes has only a few rankings (one
 * node: one; five: sixty), where an array per job cost ~56 bytes of each finished job's ~730.
 * In a large cell most rankings differ: the table then starts over when full, so it costs a
 * bounded amount and changes no answer (callers never change a ranking).
 */
const sharedTops = new Map<string, NodeId[]>()
const MAX_SHARED_TOPS = 4096

function shareTop(ranked: NodeId[]): NodeId[] {
  const key = ranked.join('\n')
  const known = sharedTops.get(key)
  if (known !== undefined) return known
  if (sharedTops.size >= MAX_SHARED_TOPS) sharedTops.clear()
  sharedTops.set(key, ranked)
  return ranked
}

export class ReplicaRanking {
  private cache = new Map<string, NodeId[]>()
  private version = -1
  private ids: NodeId[] = []
  /** The ids' node hashes (a map lookup per id per job was most of a ranking's cost). */
  private hashes: { hi: Uint32Array; lo: Uint32Array } = { hi: new Uint32Array(0), lo: new Uint32Array(0) }

  /** `keep`: how many of the best nodes to remember per job (its storing nodes). */
  constructor(private readonly keep: number) {}

  /**
   * The job's best `keep` live nodes, best first. `version` changes whenever the live set does
   * (membership's live version), so the cache is checked with one comparison instead of joining
   * N ids into a key, and each job costs one O(N) pass per live-set change, not a sort, and
   * O(keep) memory, not O(N).
   */
  top(jobId: string, version: number, liveIds: () => NodeId[]): NodeId[] {
    this.follow(version, liveIds)
    let ranked = this.cache.get(jobId)
    if (ranked === undefined) {
      ranked = shareTop(topOfHashes(jobId, this.ids, this.hashes, this.keep))
      this.cache.set(jobId, ranked)
    }
    return ranked
  }

  /** A job was collected: its ranking is not asked for again (a pure cache: dropping it changes no answer). */
  forget(jobId: string): void {
    this.cache.delete(jobId)
  }

  /** Every live node ranked for the job (uncached: a submit walks down it when stores fail). */
  all(jobId: string, version: number, liveIds: () => NodeId[]): NodeId[] {
    this.follow(version, liveIds)
    return rankFor(jobId, this.ids)
  }

  /** Membership changed: every job's storing nodes may have moved. */
  private follow(version: number, liveIds: () => NodeId[]): void {
    if (version === this.version) {
      if (this.cache.size > MAX_JOBS_PER_SET) this.cache.clear()
      return
    }
    this.version = version
    this.ids = [...liveIds()].sort()
    const key = `${this.keep}\n${this.ids.join('\n')}`
    let set = shared.get(key)
    if (set === undefined) {
      if (shared.size >= MAX_LIVE_SETS) shared.delete(shared.keys().next().value as string)
      set = { cache: new Map(), hashes: idHashes(this.ids) }
      shared.set(key, set)
    }
    this.cache = set.cache
    this.hashes = set.hashes
  }
}

/** The best `k` of `ids` for a job, in the order rankFor gives them. */
export function topFor(jobId: string, ids: readonly NodeId[], k: number): NodeId[] {
  return topOfHashes(jobId, ids, idHashes(ids), k)
}

/** topFor over ids whose node hashes (idHashes) are at hand: ReplicaRanking keeps them per live set. */
export function topOfHashes(jobId: string, ids: readonly NodeId[], hashes: { hi: Uint32Array; lo: Uint32Array }, k: number): NodeId[] {
  const best: Array<{ id: NodeId; h: number }> = []
  const before = (a: { id: NodeId; h: number }, b: { id: NodeId; h: number }): boolean => a.h > b.h || (a.h === b.h && a.id < b.id)
  const score = keyedScorerOfHashes(jobId)
  for (let j = 0; j < ids.length; j++) {
    const h = score(hashes.hi[j] as number, hashes.lo[j] as number)
    const id = ids[j] as NodeId
    const last = best.length === k ? best[k - 1] as { id: NodeId; h: number } : undefined
    if (last !== undefined && !(h > last.h || (h === last.h && id < last.id))) continue
    const x = { id, h }
    let i = best.length < k ? best.length : k - 1
    if (best.length < k) best.push(x)
    while (i > 0 && before(x, best[i - 1] as { id: NodeId; h: number })) { best[i] = best[i - 1] as { id: NodeId; h: number }; i-- }
    best[i] = x
  }
  return best.map((x) => x.id)
}

/** Nodes ranked for a job, best first (uncached: for views other than the current one). */
export function rankFor(jobId: string, ids: Iterable<NodeId>): NodeId[] {
  const score = keyedScorer(jobId)
  return [...ids].map((id) => ({ id, h: score(id) }))
    .sort((a, b) => b.h - a.h || (a.id < b.id ? -1 : 1))
    .map((x) => x.id)
}
