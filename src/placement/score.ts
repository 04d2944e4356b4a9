// Scoring: capacity-weighted rendezvous hashing (Schindelhauer & Schomaker's weighted HRW).
// Each feasible node scores -w / ln(h) with h a uniform hash of (allocation key, node id) in (0, 1).
// -1 / ln(h) is the inverse of an exponential variate, so the top score picks node i with
// probability exactly w_i / sum(w): every node that knows the same views picks the same winner
// with no coordination, and load goes where capacity is.
//
// The weight w is how many copies of this job the node could hold right now:
//
//   w = min(free.cpu / need.cpu, free.memoryMb / need.memoryMb)
//
// which is 1 + the copies still fitting after placing this one, i.e. "free capacity after
// placement plus a floor of one copy", so a node with room for exactly this job still gets picked.
// Why this and not a free fraction (free / total):
// - absolute, not relative to the node's size: an empty 32-cpu node should attract 4x the work of
//   an empty 8-cpu node, so heterogeneous nodes fill at the same pace; fractions would treat them
//   as equal.
// - min, not a geometric mean: capacity is only useful in shape of the job. A node with 64 cpu and
//   1 GB can take two 512 MB jobs, however much cpu it has; the bottleneck resource is the truth.
// - measured in the job's own units, so cpu and memory need no exchange rate, and the score depends
//   only on (job, key, node): adding or removing a node never reorders the others, which keeps
//   rendezvous hashing's minimal-disruption property for retries and re-placement.
import type { Resources } from './types.js'

/**
 * The smallest need used as a divisor. Jobs declare at least 0.1 cpu / 64 MB by default; these only
 * keep a zero request from producing an infinite weight, which would erase all spreading.
 */
const MIN_NEED: Resources = { cpu: 0.001, memoryMb: 1 }

/** Weights are clamped to a finite positive range so scores stay comparable numbers. */
const MIN_WEIGHT = 1e-6
const MAX_WEIGHT = 1e12

/** How many copies of a job needing `need` fit in `free` (see the file comment for why). */
export function capacityWeight(free: Resources, need: Resources): number {
  const cpuCopies = free.cpu / Math.max(need.cpu, MIN_NEED.cpu)
  const memCopies = free.memoryMb / Math.max(need.memoryMb, MIN_NEED.memoryMb)
  const w = Math.min(cpuCopies, memCopies)
  if (Number.isNaN(w)) return MIN_WEIGHT
  return Math.min(MAX_WEIGHT, Math.max(MIN_WEIGHT, w))
}

/** Weighted rendezvous score: higher wins. `h` must be in (0, 1); `weight` positive. */
export function rendezvousScore(weight: number, h: number): number {
  return -weight / Math.log(h)
}
