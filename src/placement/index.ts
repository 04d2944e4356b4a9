// src/placement: where an allocation should run, as a pipeline of small pure steps (after Nomad's
// scheduler): feasibility filters that say why a node was rejected (feasibility.ts,
// constraints.ts), capacity-weighted rendezvous scoring (hash.ts, score.ts), ranking (rank.ts),
// a one-line explanation when nothing fits (pending-reason.ts), multi-instance spreading
// (spread.ts) and an offline best-fit packer to measure against (best-fit.ts).
//
// Everything here is deterministic from its arguments: no clock, no randomness, no timers, no I/O,
// and no imports beyond this folder and the type-only '../core/types.js'. Two nodes with the same
// views compute the same answer, which is what lets them bid without a master.
export type {
  Candidate,
  Constraint,
  FilterReason,
  NodeId,
  NodeView,
  PlacementJob,
  PlacementResult,
  RankOptions,
  Rejection,
  Resources,
} from './types.js'
export { admits, checkFeasibility, DEFAULT_EXCLUDE_DETAIL, FEASIBILITY_CHECKS, RESOURCE_EPSILON } from './feasibility.js'
export type { FeasibilityCheck, FeasibilityContext, Verdict } from './feasibility.js'
export { parseList, satisfies, describeFailure } from './constraints.js'
export { fnv1a64, hash64Hex, keyedScorer, mix64, rendezvousHash, rendezvousHasher, toUnitInterval } from './hash.js'
export type { Hash64 } from './hash.js'
export { capacityWeight, rendezvousScore } from './score.js'
export { compareCandidates, rankNodes } from './rank.js'
export { NO_NODES_REASON, pendingReason } from './pending-reason.js'
export { DEFAULT_TOP_K, placeInstances } from './spread.js'
export type { InstancePlacement, PlaceOptions, SpreadResult } from './spread.js'
export { bestFitDecreasing, longestPackedPrefix } from './best-fit.js'
export type { PackResult } from './best-fit.js'
