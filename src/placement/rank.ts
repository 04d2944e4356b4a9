// rankNodes: the pipeline for one allocation. feasibility -> score -> sort -> explain.
import { checkFeasibility, DEFAULT_EXCLUDE_DETAIL } from './feasibility.js'
import { rendezvousHasher } from './hash.js'
import { pendingReason } from './pending-reason.js'
import { capacityWeight, rendezvousScore } from './score.js'
import type { Candidate, NodeView, PlacementJob, PlacementResult, RankOptions, Rejection } from './types.js'

const NO_EXCLUSIONS: ReadonlySet<string> = new Set()

/**
 * Ranks every node for one allocation of `job`. Each node ends up either a candidate (with a
 * capacity-weighted rendezvous score; see score.ts) or a rejection (with the first failed filter
 * and a human detail), never both. Candidates are sorted by score desc, then nodeId asc;
 * rejections by nodeId. The answer depends only on the inputs, not on the order of `nodes`, so
 * every node holding the same views computes the same ranking.
 *
 * `allocationKey` identifies the allocation (job id, instance index, attempt): a different key
 * gives an independent ranking, which is what spreads instances and moves retries elsewhere.
 */
export function rankNodes(job: PlacementJob, allocationKey: string, nodes: readonly NodeView[], opts: RankOptions = {}): PlacementResult {
  const exclude = opts.exclude ?? NO_EXCLUSIONS
  const excludeDetail = opts.excludeDetail ?? DEFAULT_EXCLUDE_DETAIL
  const hash = rendezvousHasher(allocationKey)
  const candidates: Candidate[] = []
  const rejected: Rejection[] = []
  for (const node of nodes) {
    const rejection = checkFeasibility({ job, node, exclude, excludeDetail })
    if (rejection !== undefined) {
      rejected.push(rejection)
      continue
    }
    const score = rendezvousScore(capacityWeight(node.free, job.resources), hash(node.id))
    candidates.push({ nodeId: node.id, name: node.name, score })
  }
  candidates.sort(compareCandidates)
  rejected.sort(compareRejections)
  const result: PlacementResult = { candidates, rejected }
  const reason = pendingReason(job, result)
  if (reason !== undefined) result.pendingReason = reason
  return result
}

/**
 * Score desc, then nodeId asc, then name. Plain code-unit comparison, never localeCompare: the
 * order must be identical on every machine whatever its locale.
 */
export function compareCandidates(a: Candidate, b: Candidate): number {
  if (a.score !== b.score) return a.score > b.score ? -1 : 1
  return compareStrings(a.nodeId, b.nodeId) || compareStrings(a.name, b.name)
}

/** A total order on rejections, so the output does not depend on input order. */
function compareRejections(a: Rejection, b: Rejection): number {
  return compareStrings(a.nodeId, b.nodeId) || compareStrings(a.name, b.name) || compareStrings(a.reason, b.reason) || compareStrings(a.detail, b.detail)
}

export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
