// Which nodes store a job: the live nodes ranked by rendezvous hash of the job id; the first ones
// are its replicas and the first live one its arbiter. Every node computes the same ranking from
// the same view, with no coordination. Rankings are cached until the live set changes, because
// the arbiter loop asks for them on every tick.
import { keyedScorer } from '../placement/hash.js'
import type { NodeId } from './types.js'

/**
 * Rankings per live set, shared by every ReplicaRanking that sees the same one: a pure function of
 * (job, live set), so sharing changes no answer. In one process (the simulator) the members of a
 * cell agree on its live set almost always, and each job's storing nodes were computed by every
 * node that touched it (~6 per job, an O(cell) pass each).
 */
const shared = new Map<string, Map<string, NodeId[]>>()
const MAX_LIVE_SETS = 1024
const MAX_JOBS_PER_SET = 200_000

export class ReplicaRanking {
  private cache = new Map<string, NodeId[]>()
  private version = -1
  private ids: NodeId[] = []

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
      ranked = topFor(jobId, this.ids, this.keep)
      this.cache.set(jobId, ranked)
    }
    return ranked
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
    let cache = shared.get(key)
    if (cache === undefined) {
      if (shared.size >= MAX_LIVE_SETS) shared.delete(shared.keys().next().value as string)
      cache = new Map()
      shared.set(key, cache)
    }
    this.cache = cache
  }
}

/** The best `k` of `ids` for a job, in the order rankFor gives them. */
export function topFor(jobId: string, ids: readonly NodeId[], k: number): NodeId[] {
  const best: Array<{ id: NodeId; h: number }> = []
  const before = (a: { id: NodeId; h: number }, b: { id: NodeId; h: number }): boolean => a.h > b.h || (a.h === b.h && a.id < b.id)
  const score = keyedScorer(jobId)
  for (const id of ids) {
    const x = { id, h: score(id) }
    if (best.length === k && !before(x, best[k - 1] as { id: NodeId; h: number })) continue
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
