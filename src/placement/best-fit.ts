// An offline best-fit-decreasing packer: the yardstick the simulator holds online rendezvous
// placement against. It sees every job up front and packs greedily, so it usually places at least
// as many jobs as any online strategy; it is not optimal (bin packing is NP-hard) and not meant
// for live use: it would pile every job onto the fullest nodes.
import { admits, checkFeasibility, RESOURCE_EPSILON } from './feasibility.js'
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
  if (jobs.every((j) => j.constraints.length === 0)) return packUnconstrained(order.map((o) => o.job), views, scale)
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

/**
 * bestFitDecreasing when no job has constraints: the same answer, without asking every node for
 * every job (at 10,000 nodes and 100,000 jobs that was 10^9 feasibility checks per packing).
 * A node's leftover after taking a job is key(node) - key(job), key = cpu/scale + memory/scale,
 * so the best fit is the feasible node of least key: usable nodes sit in an array sorted by
 * (key, id), and the search starts at the first key >= the job's (a node below it lacks cpu or
 * memory). Nodes whose keys are within float error of the first feasible one are compared on the
 * exact leftover, so ties break by id as the general loop breaks them.
 */
function packUnconstrained(jobs: readonly PlacementJob[], views: NodeView[], scale: Resources): PackResult {
  const key = (cpu: number, memoryMb: number): number => cpu / scale.cpu + memoryMb / scale.memoryMb
  const leftover = (v: NodeView, r: Resources): number => (v.free.cpu - r.cpu) / scale.cpu + (v.free.memoryMb - r.memoryMb) / scale.memoryMb
  // A node that cannot take the smallest job (in either resource) never takes any: left out, so
  // searches do not walk past the nodes whose cpu ran out while memory is left (or the reverse).
  let minCpu = Infinity
  let minMem = Infinity
  for (const j of jobs) { minCpu = Math.min(minCpu, j.resources.cpu); minMem = Math.min(minMem, j.resources.memoryMb) }
  const useful = (v: NodeView): boolean => admits(v.free, { cpu: minCpu, memoryMb: 0 }) && admits(v.free, { cpu: 0, memoryMb: minMem })
  const usable = views.filter((v) => v.state === 'alive' && !v.draining && useful(v))
  const keys = new Map<NodeView, number>(usable.map((v) => [v, key(v.free.cpu, v.free.memoryMb)]))
  const byKey = (a: NodeView, b: NodeView): number => (keys.get(a) as number) - (keys.get(b) as number) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  const sorted = usable.sort(byKey)
  /** First index whose node is not before (k, id) in the order. */
  const lowerBound = (k: number, id: string): number => {
    let lo = 0
    let hi = sorted.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      const m = sorted[mid] as NodeView
      const mk = keys.get(m) as number
      if (mk < k || (mk === k && m.id < id)) lo = mid + 1
      else hi = mid
    }
    return lo
  }
  // Feasibility allows RESOURCE_EPSILON of slack per resource, and keys carry float error: search
  // and compare with a margin above both.
  const EPS = 4 * RESOURCE_EPSILON * (1 / scale.cpu + 1 / scale.memoryMb) + 1e-12
  const result: PackResult = { placed: 0, assignments: [], unplaced: [] }
  // Free capacity only shrinks, so a job no node fits rules out every later job at least as big in both.
  const failed: Resources[] = []
  for (const job of jobs) {
    const r = job.resources
    if (failed.some((f) => r.cpu >= f.cpu && r.memoryMb >= f.memoryMb)) {
      result.unplaced.push(job.id)
      continue
    }
    let best: NodeView | undefined
    let bestLeft = Infinity
    let limit = Infinity
    for (let i = lowerBound(key(r.cpu, r.memoryMb) - EPS, ''); i < sorted.length; i++) {
      const v = sorted[i] as NodeView
      if ((keys.get(v) as number) > limit) break
      if (!admits(v.free, r)) continue
      if (best === undefined) limit = (keys.get(v) as number) + EPS
      const left = leftover(v, r)
      if (best === undefined || left < bestLeft || (left === bestLeft && v.id < best.id)) {
        best = v
        bestLeft = left
      }
    }
    if (best === undefined) {
      failed.push(r)
      result.unplaced.push(job.id)
      continue
    }
    sorted.splice(lowerBound(keys.get(best) as number, best.id), 1)
    best.free = { cpu: best.free.cpu - r.cpu, memoryMb: best.free.memoryMb - r.memoryMb }
    keys.set(best, key(best.free.cpu, best.free.memoryMb))
    if (useful(best)) sorted.splice(lowerBound(keys.get(best) as number, best.id), 0, best)
    result.assignments.push({ jobId: job.id, nodeId: best.id })
    result.placed++
  }
  return result
}
