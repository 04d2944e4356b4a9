// Admission: has this cell room for a job, before it is stored here? A job lives in the cell of
// its id's hash (cells.ts), so a full cell kept a job pending while other cells had room. A
// submit without an idempotency key may take another id, and so another cell: the node taking it
// (cell-router.ts) asks the id's cell to admit it first, and on a refusal tries the next id's
// cell. Nothing is stored before the cell admits the job, so a refusal leaves nothing behind.
//
// The answering node decides from its own view of the cell's free capacity (capacity-view.ts:
// what each node said lately, less the claims made since): room for every instance, and, when
// the router wants spare room (`spare`), at least SPARE of the cell's capacity free. Only fresh
// figures count as room (the caller says which: job-submit.ts counts its own admission's answers),
// since figures even half a second old admitted jobs into cells that had filled meanwhile. When
// the fresh figures have no room and other nodes could run the job, the verdict is to ask some of
// those, the ones whose old figure had room first (job-submit.ts asks, and checks again when they
// answered). A crowded cell refuses a job that wants spare room before asking anyone: crowding is
// judged on every figure, old ones as last heard. A pure function.
import { admits, RESOURCE_EPSILON, satisfies, type NodeView, type PlacementJob } from '../placement/index.js'
import type { NodeId, Resources } from './types.js'

export interface AdmitJob extends PlacementJob {
  count: number
  /** Rank as placement does for this job (the arbiter's `sample`: best fit for batch jobs). */
  sample: number
  /** Refuse it also when the cell is crowded (less than SPARE of its capacity free). */
  spare: boolean
}

/** A cell with less than this share of its cpu or memory free is crowded (see AdmitJob.spare). */
export const SPARE = 0.1

/** How many instances of `need` fit in `free` (at most `cap`). */
export function instancesIn(free: Resources, need: Resources, cap: number): number {
  const cpu = need.cpu <= 0 ? cap : Math.floor((free.cpu + RESOURCE_EPSILON) / need.cpu)
  const mem = need.memoryMb <= 0 ? cap : Math.floor((free.memoryMb + RESOURCE_EPSILON) / need.memoryMb)
  return Math.max(0, Math.min(cap, cpu, mem))
}

/** The cell's answer: admitted, refused (and why), or first ask these nodes (whose figures are old). */
export type Admission =
  | { verdict: 'admit' }
  | { verdict: 'refuse'; reason: string; why: Refusal }
  | { verdict: 'ask'; nodes: NodeId[] }

/** Why a cell refused: no node could ever run it, no room now, or crowded (for a job that wants spare room). */
export type Refusal = 'infeasible' | 'no-room' | 'crowded'

/**
 * Whether this cell takes the job, by `views` where `fresh(node)` says which figures were heard
 * lately; at most `ask` nodes are named to ask.
 */
export function checkAdmission(job: AdmitJob, views: readonly NodeView[], fresh: (node: NodeId) => boolean, ask: number): Admission {
  // One pass over the cell (it runs for every admission): the nodes that could run the job, the
  // instances the fresh figures have room for (counted until there are enough), and the stale ones
  // while there are not enough yet (only a job without room asks them). Once there are, no node's
  // freshness is asked: a lookup per node of the cell, twice per admission.
  // The feasible nodes are counted and summed up (spare room) as they pass: no list of them.
  let feasible = 0
  const sums = { cpu: 0, mem: 0, totalCpu: 0, totalMem: 0 }
  const stale: NodeView[] = []
  let fits = 0
  for (const v of views) {
    if (!couldRun(job, v)) continue
    feasible++
    if (job.spare) addShare(sums, v)
    if (fits >= job.count) continue
    if (!fresh(v.id)) stale.push(v)
    else fits += instancesIn(v.free, job.resources, job.count)
  }
  if (feasible === 0) return { verdict: 'refuse', reason: 'no node of this cell can run it (cpu, memory, labels or drain)', why: 'infeasible' }
  if (job.spare) {
    // Crowded or not is a share of the whole cell, where what is not known counts as it was last
    // heard: asking nodes first would not change it, only delay the refusal by a round or three.
    const share = Math.min(sums.totalCpu > 0 ? sums.cpu / sums.totalCpu : 1, sums.totalMem > 0 ? sums.mem / sums.totalMem : 1)
    if (share < SPARE) return { verdict: 'refuse', reason: `the cell is crowded: ${Math.round(share * 1000) / 10}% of its capacity is free (it takes jobs another cell could take above ${SPARE * 100}%)`, why: 'crowded' }
  }
  if (fits < job.count) {
    if (stale.length > 0 && ask > 0) return { verdict: 'ask', nodes: askFirst(stale, job, ask) }
    return { verdict: 'refuse', reason: `room for ${fits} of ${job.count} instance(s) of ${job.resources.cpu} cpu, ${job.resources.memoryMb} MB on the cell's ${feasible} nodes that could run it`, why: 'no-room' }
  }
  return { verdict: 'admit' }
}

/**
 * The `k` stale nodes to ask: first those whose last figure (less our claims since) had room for
 * an instance, in cell order, then the others. In a filling cell most old figures are of nodes
 * that were full and still are; asking them in cell order took up to three rounds (8 + 16 + 32
 * asks) per admission before a node with room answered.
 */
function askFirst(stale: readonly NodeView[], job: AdmitJob, k: number): NodeId[] {
  const out: NodeId[] = []
  for (const v of stale) if (out.length < k && instancesIn(v.free, job.resources, 1) > 0) out.push(v.id)
  for (const v of stale) if (out.length < k && instancesIn(v.free, job.resources, 1) === 0) out.push(v.id)
  return out
}

/**
 * Whether a node's totals, labels and drain flag admit a job of this shape: placement's
 * feasibility checks (feasibility.ts) with the node's whole capacity free. Asked of every node of
 * the cell for every admission, so without the rejection each failed check would describe.
 */
function couldRun(job: PlacementJob, v: NodeView): boolean {
  return v.state === 'alive' && !v.draining && (job.constraints.length === 0 || job.constraints.every((c) => satisfies(c, v.labels))) && admits(v.total, job.resources)
}

/** Adds a feasible node's free and total cpu and memory to the cell's sums (its spare share). */
function addShare(sums: { cpu: number; mem: number; totalCpu: number; totalMem: number }, v: NodeView): void {
  sums.cpu += Math.max(0, v.free.cpu)
  sums.mem += Math.max(0, v.free.memoryMb)
  sums.totalCpu += v.total.cpu
  sums.totalMem += v.total.memoryMb
}
