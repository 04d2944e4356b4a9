// An offline best-fit-decreasing packer: the yardstick the simulator holds online rendezvous
// placement against. It sees every job up front and packs greedily, so it usually places at least
// as many jobs as any online strategy; it is not optimal (bin packing is NP-hard) and not meant
// for live use: it would pile every job onto the fullest nodes.
import { checkFeasibility } from './feasibility.js'
import { compareStrings } from './rank.js'
import type { NodeId, NodeView, PlacementJob, Resources } from './types.js'

/** The answer of {@link bestFitDecreasing}. */
export interface PackResult {
  /** How many jobs found a node. */
  placed: number
  /** In packing order (largest job first). */
  assignments: { jobId: string; nodeId: NodeId }[]
  /** Ids of jobs no node could take, in packing order. */
  unplaced: string[]
}

const NO_EXCLUSIONS: ReadonlySet<NodeId> = new Set()

/**
 * Packs each job (one instance each) onto the feasible node with the least capacity left after
 * placing it, largest jobs first. Feasibility is the same pipeline as online placement (liveness,
 * drain, constraints, cpu, memory).
 *
 * cpu and memory are made comparable by dividing by the cluster's total free of each (over alive,
 * non-draining nodes): a job's size is its dominant share (the larger of its two fractions, as in
 * DRF), and a node's leftover is the sum of its two fractions after placement.
 */
export function bestFitDecreasing(jobs: readonly PlacementJob[], nodes: readonly NodeView[]): PackResult {
  const views: NodeView[] = nodes.map((n) => ({ ...n, free: { ...n.free } }))
  const scale = clusterScale(views)
  const share = (r: Resources): { dominant: number; sum: number } => {
    const c = r.cpu / scale.cpu
    const m = r.memoryMb / scale.memoryMb
    return { dominant: Math.max(c, m), sum: c + m }
  }
  const order = jobs
    .map((job) => ({ job, size: share(job.resources) }))
    .sort((a, b) => b.size.dominant - a.size.dominant || b.size.sum - a.size.sum || compareStrings(a.job.id, b.job.id))
  const result: PackResult = { placed: 0, assignments: [], unplaced: [] }
  for (const { job } of order) {
    let best: { view: NodeView; leftover: number } | undefined
    for (const view of views) {
      if (checkFeasibility({ job, node: view, exclude: NO_EXCLUSIONS, excludeDetail: '' }) !== undefined) continue
      const leftover = share({ cpu: view.free.cpu - job.resources.cpu, memoryMb: view.free.memoryMb - job.resources.memoryMb }).sum
      if (best === undefined || leftover < best.leftover || (leftover === best.leftover && view.id < best.view.id)) best = { view, leftover }
    }
    if (best === undefined) {
      result.unplaced.push(job.id)
      continue
    }
    best.view.free = { cpu: best.view.free.cpu - job.resources.cpu, memoryMb: best.view.free.memoryMb - job.resources.memoryMb }
    result.assignments.push({ jobId: job.id, nodeId: best.view.id })
    result.placed++
  }
  return result
}

/** Total free per resource over usable nodes; 1 when there is none, to keep divisions finite. */
function clusterScale(views: readonly NodeView[]): Resources {
  let cpu = 0
  let memoryMb = 0
  for (const v of views) {
    if (v.state !== 'alive' || v.draining) continue
    if (v.free.cpu > 0) cpu += v.free.cpu
    if (v.free.memoryMb > 0) memoryMb += v.free.memoryMb
  }
  return { cpu: cpu > 0 ? cpu : 1, memoryMb: memoryMb > 0 ? memoryMb : 1 }
}
