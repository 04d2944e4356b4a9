// Timings and limits of the job protocol, each with the reason for its value.

export interface JobsConfig {
  /** Copies of every job (CONTRACT: stored on min(3, alive) nodes). */
  replicas: number
  /** An offer is one round trip to a node that answers from memory; 1 s survives a slow tick. */
  offerTimeoutMs: number
  /** Storing on a replica waits for its disk; 3 s covers a slow fsync on a busy machine. */
  storeTimeoutMs: number
  /**
   * A reservation whose start never came (the arbiter died) is released after this. The start
   * follows the grant's replication (up to storeTimeoutMs) on a loaded node: 10 s, not less.
   */
  reservationTtlMs: number
  /** The arbiter re-sends a start for a claim that has not turned into a run after this. */
  claimResendMs: number
  /** A node that rejected an offer is skipped for this long (its gossiped capacity is stale). */
  rejectBackoffMs: number
  /** A job nothing can take is ranked again at most this often, and at once when capacity frees. */
  placementRetryMs: number
  /** Keep a gossip batch under the topic's message limit (64 KiB) with room to spare. */
  gossipBatchBytes: number
  /**
   * A run on a node this node has never heard of counts as lost only after this long up: enough
   * for a restarted node to learn the member table (a join and a state exchange take ~1-3 s).
   */
  unknownNodeGraceMs: number
  /**
   * A restarted node waits at most this long for its first state exchange before it arbitrates
   * on what its disk says (a lone node has nobody to exchange with).
   */
  restartHoldMs: number
  /**
   * Job changes are published at the end of the step that made them, unless the last publish was
   * less than this ago: then they wait for the tick and go out together (one signed message each).
   */
  gossipCoalesceMs: number
  /**
   * Batch placement packs: the tightest of this many sampled feasible nodes is offered first (see
   * packSample in src/placement/rank.ts); 0 spreads by capacity-weighted rendezvous instead.
   * Services always spread (see Arbiter.sampleFor).
   */
  placementSample: number
  /** A claim whose node keeps refusing the start (no room since its reservation expired) is closed after this. */
  claimRefusedLimitMs: number
  /**
   * Job changes are also gossiped to every node while at most this many nodes are live (so every
   * node's event stream shows every job). Above it they go only to the job's storing nodes and
   * runners: gossip costs every node O(cluster job rate) (580 of 703 KB/s per node at 100 nodes
   * and 72 jobs/s in the simulator). 0: never gossip jobs.
   */
  gossipMaxNodes: number
  /** Anti-entropy with one node that stores jobs with us, and runners' leases, this often. */
  jobSyncMs: number
  /** A read of a job (or a listing page) from another node gives up after this. */
  readTimeoutMs: number
}

export const JOBS_DEFAULTS: JobsConfig = {
  replicas: 3, offerTimeoutMs: 1_000, storeTimeoutMs: 3_000, reservationTtlMs: 10_000, claimResendMs: 2_000,
  rejectBackoffMs: 1_000, placementRetryMs: 500, gossipBatchBytes: 48 * 1024, gossipCoalesceMs: 50, placementSample: 8, unknownNodeGraceMs: 30_000, restartHoldMs: 10_000, claimRefusedLimitMs: 30_000,
  gossipMaxNodes: 32, jobSyncMs: 5_000, readTimeoutMs: 2_000,
}
