// Timings and limits of the job protocol, each with the reason for its value.

export interface JobsConfig {
  /** Copies of every job (CONTRACT: stored on min(3, alive) nodes). */
  replicas: number
  /** Storing on a node waits for its disk; 3 s covers a slow fsync on a busy machine. */
  storeTimeoutMs: number
  /**
   * A start the runner did not answer is sent again after this, and a claim we did not grant
   * (we took over from a dead arbiter) is granted again after this: long enough for a start on
   * its way to arrive, short next to the failure detector's seconds.
   */
  claimResendMs: number
  /** A claim that a storing node failed to take is sent to it again after this. */
  grantRetryMs: number
  /** A job nothing can take is ranked again after this (backing off to 4x), and at once when capacity frees. */
  placementRetryMs: number
  /** Keep a message of whole records (repair, exchange pushes) well under the rpc frame cap. */
  recordBatchBytes: number
  /**
   * A run's start is reported to the other storing nodes this long after it, unless its end comes
   * first and says it all: most batch runs are shorter, and their start then costs no message.
   * Until then those nodes show the instance `claimed` (the job `running`). Under claimResendMs,
   * so that an arbiter that took over hears of the run before it would send its start again.
   */
  runningReportMs: number
  /**
   * A node publishes its activity digest (its job events and free capacity, activity.ts) at most
   * this often, and only when it did something: events reach the other nodes' streams within
   * about this, and a burst of changes is one message. 200 ms: five a second per busy node.
   */
  activityMs: number
  /**
   * ...and at most every (live nodes x this): the digests of a whole cell stay under 20 a second
   * (1000 / 50), which every node of the cell receives. At 100 nodes, every 5 s per node: with
   * every node busy (the simulator at 10,000 nodes), 5 a second per node was 500 received.
   */
  activityPerNodeMs: number
  /**
   * ...and not before this long after the first event it carries. At idle a digest would go in
   * the very step that made its first event: a submit's digest then left with the job's stores,
   * and its gossip (a signature, a relay and an event-stream write on every node watched) took
   * the CPU on every node while the job's start waited for it (measured with
   * scripts/trace-latency.ts, 5 agents on 2 cores). 50 ms gathers a submit, its claim, its start
   * and a short run's end into one digest, after the start; streams hear of them 50 ms later.
   */
  activityGatherMs: number
  /**
   * Batch placement packs: the tightest of this many sampled feasible nodes is offered first (see
   * packSample in src/placement/rank.ts); 0 spreads by capacity-weighted rendezvous instead.
   * Services always spread (see Arbiter.sampleFor). The job's storing nodes come first when they fit.
   */
  placementSample: number
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
  /** Anti-entropy with one node that stores jobs with us, and runners' leases, this often. */
  jobSyncMs: number
  /** A read of a job (or a listing page) from another node gives up after this. */
  readTimeoutMs: number
  /** A job that ended is kept this long, then collected on every node (retention.ts; `--job-retention`). */
  retentionMs: number
}

export const JOBS_DEFAULTS: JobsConfig = {
  replicas: 3, storeTimeoutMs: 3_000, claimResendMs: 2_000, grantRetryMs: 500, placementRetryMs: 500,
  recordBatchBytes: 48 * 1024, runningReportMs: 500, activityMs: 200, activityPerNodeMs: 50, activityGatherMs: 50, placementSample: 8,
  unknownNodeGraceMs: 30_000, restartHoldMs: 10_000, jobSyncMs: 5_000, readTimeoutMs: 2_000,
  retentionMs: 3_600_000,
}
