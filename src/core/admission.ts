// Admission: has this cell room for a job, before it is stored here? A job lives in the cell of
// its id's hash (cells.ts), so a full cell kept a job pending while other cells had room. A
// submit without an idempotency key may take another id, and so another cell: the node taking it
// (cell-router.ts) asks the id's cell to admit it first, and on a refusal tries the next id's
// cell. Nothing is stored before the cell admits the job, so a refusal leaves nothing behind.
//
// The answering node decides from its own view of the cell's free capacity (capacity-view.ts:
// what each node's activity digests and answers said, less the claims made since): room for
// every instance, and, when the router wants spare room (`spare`), at least SPARE of the cell's
// capacity free. A pure function: no message, no state.
import { checkFeasibility, RESOURCE_EPSILON, type NodeView, type PlacementJob } from '../placement/index.js'
import type { Resources } from './types.js'

export interface AdmitJob extends PlacementJob {
  count: number
  /** Rank as placement does for this job (the arbiter's `sample`: best fit for batch jobs). */
  sample: number
  /** Refuse it also when the cell is crowded (less than SPARE of its capacity free). */
  spare: boolean
}

/** A cell with less than this share of its cpu or memory free is crowded (see AdmitJob.spare). */
export const SPARE = 0.1

const NO_NODES: ReadonlySet<string> = new Set()

/** How many instances of `need` fit in `free` (at most `cap`). */
export function instancesIn(free: Resources, need: Resources, cap: number): number {
  const cpu = need.cpu <= 0 ? cap : Math.floor((free.cpu + RESOURCE_EPSILON) / need.cpu)
  const mem = need.memoryMb <= 0 ? cap : Math.floor((free.memoryMb + RESOURCE_EPSILON) / need.memoryMb)
  return Math.max(0, Math.min(cap, cpu, mem))
}

/** Why this cell refuses the job, or null when it admits it. */
export function checkAdmission(job: AdmitJob, views: readonly NodeView[]): string | null {
  // The nodes whose totals, labels and drain flag admit a job of this shape.
  const feasible = views.filter((v) => checkFeasibility({ job, node: { ...v, free: v.total }, exclude: NO_NODES, excludeDetail: '' }) === undefined)
  if (feasible.length === 0) return 'no node of this cell can run it (cpu, memory, labels or drain)'
  let fits = 0
  for (const v of feasible) if ((fits += instancesIn(v.free, job.resources, job.count)) >= job.count) break
  if (fits < job.count) {
    return `room for ${fits} of ${job.count} instance(s) of ${job.resources.cpu} cpu, ${job.resources.memoryMb} MB on the cell's ${feasible.length} nodes that could run it`
  }
  if (job.spare) {
    const share = spareShare(feasible)
    if (share < SPARE) return `the cell is crowded: ${Math.round(share * 1000) / 10}% of its capacity is free (it takes jobs another cell could take above ${SPARE * 100}%)`
  }
  return null
}

/** The smaller share of cpu and memory free over `nodes`. */
function spareShare(nodes: readonly NodeView[]): number {
  let cpu = 0, mem = 0, totalCpu = 0, totalMem = 0
  for (const v of nodes) {
    cpu += Math.max(0, v.free.cpu)
    mem += Math.max(0, v.free.memoryMb)
    totalCpu += v.total.cpu
    totalMem += v.total.memoryMb
  }
  return Math.min(totalCpu > 0 ? cpu / totalCpu : 1, totalMem > 0 ? mem / totalMem : 1)
}
