// placeInstances: several instances of one job in one pass. Each instance gets its own rendezvous
// ranking (its own key), nodes already chosen for this job go to the back of the line (soft
// anti-affinity), and each choice is charged against that node's free view before the next
// instance is ranked, so one call never overcommits a node.
import { rankNodes } from './rank.js'
import type { Candidate, NodeId, NodeView, PlacementJob, RankOptions, Rejection } from './types.js'

/** How many fallback candidates each instance carries: enough to survive a lost bid or two. */
export const DEFAULT_TOP_K = 3

/** Options for {@link placeInstances}. */
export interface PlaceOptions extends RankOptions {
  /** Candidates kept per instance (at least 1). Default {@link DEFAULT_TOP_K}. */
  topK?: number
  /** Nodes already running an instance of this job from an earlier placement: preferred last, not forbidden. */
  occupied?: ReadonlySet<NodeId>
}

/** Where one instance should go. */
export interface InstancePlacement {
  index: number
  key: string
  /**
   * Best first, at most topK. candidates[0] is where this call assumed the instance goes (its
   * resources were charged there). Nodes that already hold an instance of the job come after all
   * others, so within the list score order holds only inside each of those two groups.
   */
  candidates: Candidate[]
  rejected: Rejection[]
  pendingReason?: string
  /** candidates[0] already holds another instance: no other node could take it. */
  colocated: boolean
}

/** The answer of {@link placeInstances}. */
export interface SpreadResult {
  instances: InstancePlacement[]
  /** How many instances got at least one candidate. */
  placed: number
}

/**
 * Places `count` instances of `job`; instance i is ranked with `instanceKeys[i]`. Node ids in
 * `nodes` are expected to be unique (a view is a map by id). Throws RangeError when there are
 * fewer keys than instances: silently inventing keys would hide a caller bug and break the
 * agreement between nodes about which key is which instance.
 */
export function placeInstances(
  job: PlacementJob,
  count: number,
  instanceKeys: readonly string[],
  nodes: readonly NodeView[],
  opts: PlaceOptions = {},
): SpreadResult {
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`count must be a non-negative integer, got ${count}`)
  if (instanceKeys.length < count) throw new RangeError(`${count} instances need ${count} keys, got ${instanceKeys.length}`)
  const topK = Math.max(1, Math.floor(opts.topK ?? DEFAULT_TOP_K))
  const rankOpts: RankOptions = {}
  if (opts.exclude !== undefined) rankOpts.exclude = opts.exclude
  if (opts.excludeDetail !== undefined) rankOpts.excludeDetail = opts.excludeDetail
  // Our own copies: charging an instance must never write into the caller's views.
  const views: NodeView[] = nodes.map((n) => ({ ...n, free: { ...n.free } }))
  const holding = new Set<NodeId>(opts.occupied ?? [])
  const instances: InstancePlacement[] = []
  let placed = 0
  for (let index = 0; index < count; index++) {
    const key = instanceKeys[index] as string
    const ranked = rankNodes(job, key, views, rankOpts)
    const fresh = ranked.candidates.filter((c) => !holding.has(c.nodeId))
    const reused = ranked.candidates.filter((c) => holding.has(c.nodeId))
    const candidates = [...fresh, ...reused].slice(0, topK)
    const chosen = candidates[0]
    const instance: InstancePlacement = {
      index,
      key,
      candidates,
      rejected: ranked.rejected,
      colocated: chosen !== undefined && holding.has(chosen.nodeId),
    }
    if (ranked.pendingReason !== undefined) instance.pendingReason = ranked.pendingReason
    instances.push(instance)
    if (chosen === undefined) continue
    placed++
    holding.add(chosen.nodeId)
    charge(views, chosen.nodeId, job)
  }
  return { instances, placed }
}

function charge(views: NodeView[], nodeId: NodeId, job: PlacementJob): void {
  for (const v of views) {
    if (v.id !== nodeId) continue
    v.free = { cpu: v.free.cpu - job.resources.cpu, memoryMb: v.free.memoryMb - job.resources.memoryMb }
  }
}
