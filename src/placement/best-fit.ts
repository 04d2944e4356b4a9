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
  const scale = clusterScale(nodes)
  return packInOrder(packingOrder(jobs, scale), nodes, scale)
}

/**
 * The longest prefix of `jobs` (in the order given, e.g. arrival) that {@link bestFitDecreasing}
 * packs entirely, by binary search over the prefix length (packing a longer prefix fully implies
 * packing every shorter one in practice, not in theory: best fit has anomalies). A prefix's
 * packing order is the whole order restricted to it (the order is total: ties break by id), so
 * the jobs are sorted once, and a pass stops at its first job that fits nowhere.
 */
export function longestPackedPrefix(jobs: readonly PlacementJob[], nodes: readonly NodeView[]): number {
  const scale = clusterScale(nodes)
  const position = new Map(jobs.map((j, i) => [j, i]))
  const order = packingOrder(jobs, scale)
  let lo = 0
  let hi = jobs.length
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2)
    const prefix = order.filter((j) => (position.get(j) as number) < mid)
    if (packInOrder(prefix, nodes, scale, true).placed === mid) lo = mid
    else hi = mid - 1
  }
  return lo
}

/** Largest dominant share first (cpu and memory as fractions of the cluster's free), then sum, then id. */
function packingOrder(jobs: readonly PlacementJob[], scale: Resources): PlacementJob[] {
  return jobs
    .map((job) => {
      const c = job.resources.cpu / scale.cpu
      const m = job.resources.memoryMb / scale.memoryMb
      return { job, dominant: Math.max(c, m), sum: c + m }
    })
    .sort((a, b) => b.dominant - a.dominant || b.sum - a.sum || compareStrings(a.job.id, b.job.id))
    .map((o) => o.job)
}

/** Best fit in the given order; `stopAtMiss`: give up at the first job no node takes. */
function packInOrder(order: readonly PlacementJob[], nodes: readonly NodeView[], scale: Resources, stopAtMiss = false): PackResult {
  const views: NodeView[] = nodes.map((n) => ({ ...n, free: { ...n.free } }))
  if (order.every((j) => j.constraints.length === 0)) return packUnconstrained(order, views, scale, stopAtMiss)
  const sum = (r: Resources): number => r.cpu / scale.cpu + r.memoryMb / scale.memoryMb
  const result: PackResult = { placed: 0, assignments: [], unplaced: [] }
  for (const job of order) {
    let best: { view: NodeView; leftover: number } | undefined
    for (const view of views) {
      if (checkFeasibility({ job, node: view, exclude: NO_EXCLUSIONS, excludeDetail: '' }) !== undefined) continue
      const leftover = sum({ cpu: view.free.cpu - job.resources.cpu, memoryMb: view.free.memoryMb - job.resources.memoryMb })
      if (best === undefined || leftover < best.leftover || (leftover === best.leftover && view.id < best.view.id)) best = { view, leftover }
    }
    if (best === undefined) {
      result.unplaced.push(job.id)
      if (stopAtMiss) return result
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
 * Usable nodes are grouped by free cpu, each group sorted by (free memory, id). A node's leftover
 * after taking a job grows with its memory within a group, so a group's best fit is its first
 * node with memory enough (and the nodes after it of equal leftover, for the id tie-break), found
 * by binary search; groups are visited by ascending cpu, and the search stops at the first group
 * whose cpu alone leaves more than the best so far. Leftovers are computed exactly as the general
 * loop computes them, so ties break by id as it breaks them.
 */
function packUnconstrained(jobs: readonly PlacementJob[], views: NodeView[], scale: Resources, stopAtMiss: boolean): PackResult {
  const leftover = (v: NodeView, r: Resources): number => (v.free.cpu - r.cpu) / scale.cpu + (v.free.memoryMb - r.memoryMb) / scale.memoryMb
  // A node that cannot take the smallest job (in either resource) never takes any: left out.
  let minCpu = Infinity
  let minMem = Infinity
  for (const j of jobs) { minCpu = Math.min(minCpu, j.resources.cpu); minMem = Math.min(minMem, j.resources.memoryMb) }
  const useful = (v: NodeView): boolean => admits(v.free, { cpu: minCpu, memoryMb: 0 }) && admits(v.free, { cpu: 0, memoryMb: minMem })
  const groups = new Map<number, NodeView[]>()
  /** The groups' cpu values, ascending. */
  const cpus: number[] = []
  const firstCpu = (c: number): number => {
    let lo = 0
    let hi = cpus.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if ((cpus[mid] as number) < c) lo = mid + 1
      else hi = mid
    }
    return lo
  }
  /** First index of a group whose node is not before (memoryMb, id). */
  const memBound = (g: NodeView[], memoryMb: number, id: string): number => {
    let lo = 0
    let hi = g.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      const m = g[mid] as NodeView
      if (m.free.memoryMb < memoryMb || (m.free.memoryMb === memoryMb && m.id < id)) lo = mid + 1
      else hi = mid
    }
    return lo
  }
  /** First index of a group whose node has more memory than `memoryMb`. */
  const memAbove = (g: NodeView[], memoryMb: number): number => {
    let lo = 0
    let hi = g.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if ((g[mid] as NodeView).free.memoryMb <= memoryMb) lo = mid + 1
      else hi = mid
    }
    return lo
  }
  const insert = (v: NodeView): void => {
    let g = groups.get(v.free.cpu)
    if (g === undefined) {
      g = []
      groups.set(v.free.cpu, g)
      cpus.splice(firstCpu(v.free.cpu), 0, v.free.cpu)
    }
    g.splice(memBound(g, v.free.memoryMb, v.id), 0, v)
  }
  for (const v of views) if (v.state === 'alive' && !v.draining && useful(v)) insert(v)
  // Feasibility allows RESOURCE_EPSILON of slack per resource, and leftovers carry float error:
  // the stopping bound keeps a margin above both.
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
    for (let gi = firstCpu(r.cpu - 2 * RESOURCE_EPSILON); gi < cpus.length; gi++) {
      const c = cpus[gi] as number
      if (best !== undefined && (c - r.cpu) / scale.cpu - EPS > bestLeft) break
      const g = groups.get(c) as NodeView[]
      if (g.length === 0 || !admits({ cpu: c, memoryMb: Infinity }, r)) continue
      // The first node with memory enough (admits is monotone in memory within the group).
      let lo = 0
      let hi = g.length
      while (lo < hi) {
        const mid = (lo + hi) >> 1
        if (admits((g[mid] as NodeView).free, r)) hi = mid
        else lo = mid + 1
      }
      // Nodes of equal memory leave exactly as much and come in id order: only the first of each
      // memory value counts. A larger memory leaves no less, and equal only by float rounding.
      for (let i = lo; i < g.length; i = memAbove(g, (g[i] as NodeView).free.memoryMb)) {
        const v = g[i] as NodeView
        const left = leftover(v, r)
        if (left > bestLeft) break
        if (best === undefined || left < bestLeft || v.id < best.id) {
          best = v
          bestLeft = left
        }
      }
    }
    if (best === undefined) {
      failed.push(r)
      result.unplaced.push(job.id)
      if (stopAtMiss) return result
      continue
    }
    const g = groups.get(best.free.cpu) as NodeView[]
    g.splice(memBound(g, best.free.memoryMb, best.id), 1)
    best.free = { cpu: best.free.cpu - r.cpu, memoryMb: best.free.memoryMb - r.memoryMb }
    if (useful(best)) insert(best)
    result.assignments.push({ jobId: job.id, nodeId: best.id })
    result.placed++
  }
  return result
}
