// Which nodes store a job: the live nodes ranked by rendezvous hash of the job id; the first ones
// are its replicas and the first live one its arbiter. Every node computes the same ranking from
// the same view, with no coordination. Rankings are cached until the live set changes, because
// the arbiter loop asks for them on every tick.
import { rendezvousHash } from '../placement/hash.js'
import type { NodeId } from './types.js'

export class ReplicaRanking {
  private cache = new Map<string, NodeId[]>()
  private liveKey = ''

  /** `liveIds` in a stable order (membership's order); the result is ranked best first. */
  rank(jobId: string, liveIds: NodeId[]): NodeId[] {
    const key = liveIds.join(',')
    if (key !== this.liveKey) {
      // Membership changed: every job's replica set may have moved.
      this.cache = new Map()
      this.liveKey = key
    }
    let ranked = this.cache.get(jobId)
    if (ranked === undefined) {
      ranked = rankFor(jobId, liveIds)
      this.cache.set(jobId, ranked)
    }
    return ranked
  }
}

/** Nodes ranked for a job, best first (uncached: for views other than the current one). */
export function rankFor(jobId: string, ids: Iterable<NodeId>): NodeId[] {
  return [...ids].map((id) => ({ id, h: rendezvousHash(jobId, id) }))
    .sort((a, b) => b.h - a.h || (a.id < b.id ? -1 : 1))
    .map((x) => x.id)
}
