// The chaos run's vocabulary: what is planned (faults, jobs), what the job processes record
// (history lines), what the checker works on (runs) and what the agents answer (job views).

export type FaultKind = 'kill' | 'stop' | 'term'

/** One fault of the seeded schedule. Times are ms from the start of the chaos window. */
export interface PlannedFault {
  seq: number
  at: number
  kind: FaultKind
  node: string
  /** kill/term: restart this long after the fault; stop: SIGCONT this long after SIGSTOP. */
  downMs: number
}

/** A fault as it really happened. Times are epoch ms. */
export interface AppliedFault {
  seq: number
  kind: FaultKind
  node: string
  plannedAt: number
  at: number
  /** When the node was back: restarted and ready, or continued (SIGCONT). */
  backAt: number | null
  /** When every other up agent saw it alive again (or the wait for that gave up). */
  upAt: number | null
  /** When every other live agent had seen it dead (`left` counts for a SIGTERM), or null. */
  detectedAt: number | null
  /** Why detection is null, or other things worth saying about this fault. */
  note?: string
}

/** A fault the runner could not apply (its node was not up, or too many were down, for too long). */
export interface SkippedFault {
  seq: number
  kind: FaultKind
  node: string
  reason: string
}

export type JobType = 'batch' | 'service'

/** One job of the seeded workload. */
export interface PlannedJob {
  seq: number
  /** The Idempotency-Key: deterministic from the seed, so a replay submits the same job ids. */
  key: string
  /** ms from the start of the chaos window. */
  at: number
  /** Which agent (by position) to try first; the next live one if it is down. */
  via: number
  type: JobType
  count: number
  cpu: number
  memoryMb: number
  /** How long each run sleeps (batch); services sleep until stopped. */
  sleepMs: number
}

/** What one submission ended as. */
export interface SubmitOutcome {
  seq: number
  key: string
  type: JobType
  /** The job id from a 201; null if it was never acknowledged. */
  id: string | null
  ackedAt: number | null
  tries: number
  /** One line per failed try: which agent, what went wrong. */
  errors: string[]
}

/** One line a job process appended to the history. `at` is epoch ms from the process's clock. */
export interface HistoryLine {
  kind: 'start' | 'end' | 'term'
  allocId: string
  jobId: string
  index: number
  attempt: number
  at: number
  pid: number
  /** The agent whose data dir holds the allocation dir (MURMUR_ALLOC_DIR). */
  node: string
}

/**
 * How a run's end time was justified:
 * - `end`: the process wrote its end line (ran to completion);
 * - `term`: it wrote its line from the SIGTERM trap (stopped);
 * - `reaped`: no line, and its agent died; the restarted agent killed it before taking new work
 *   (its "execution ready" log line is written after the orphans are gone);
 * - `recorded`: no line, but its own agent recorded the run's end (finishedAt) before any restart;
 * - `open`: no line and nothing known: assumed running until the history was read.
 */
export type EndKind = 'end' | 'term' | 'reaped' | 'recorded' | 'open'

/** One process run: a start line paired with its end (or a justified end). */
export interface Run {
  node: string
  allocId: string
  jobId: string
  index: number
  attempt: number
  pid: number
  start: number
  end: number
  endKind: EndKind
}

/** One (re)start of an agent: the orphans of its earlier life were gone by `reapedAt`. */
export interface AgentStart {
  node: string
  spawnAt: number
  reapedAt: number
}

/** A job's allocation as the API shows it (CONTRACT section 3). */
export interface AllocView {
  index: number
  attempt: number
  nodeId: string
  nodeName: string
  state: string
  exitCode: number | null
  startedAt: string | null
  finishedAt: string | null
  reason?: string
}

/** A JobStatus, the fields the checker reads. */
export interface JobView {
  id: string
  type: JobType
  state: string
  spec: { count: number; resources: { cpu: number; memoryMb: number } }
  allocations: AllocView[]
}

/** One agent's answer to GET /v1/jobs at the end, or null if it did not answer. */
export interface AgentJobsView {
  agent: string
  jobs: JobView[] | null
}

/** A node's free resources, as one agent reported it, below zero. */
export interface NegativeFree {
  at: number
  observer: string
  node: string
  cpu: number
  memoryMb: number
}

export interface Capacity {
  cpu: number
  memoryMb: number
}

/** A job event from an agent's GET /v1/events (CONTRACT: job state changes), with when we got it. */
export interface JobEvent {
  /** Epoch ms when the runner received it: no earlier than the agent reported it. */
  at: number
  agent: string
  job: string
  /** The job's state after the change. */
  state: string
  index?: number
  attempt?: number
  node?: string
  allocState?: string
  reason?: string
}
