// Jobs as the protocol knows them (CONTRACT section 3: JobSpec, JobStatus).

import type { Millis, NodeId, Resources } from './types.js'

export type JobType = 'batch' | 'service'
export type ConstraintOp = '=' | '!=' | 'in' | 'not_in'

export interface JobConstraint {
  label: string
  op: ConstraintOp
  /** For `in` / `not_in`: a comma-separated list. */
  value: string
}

/** Which of two runs of one instance stays when a partition heals (see DisconnectPolicy). */
export type ReconcileMode = 'keep_original' | 'keep_replacement' | 'longest_running' | 'best_score'

/**
 * What a partition does to a job's runs (Nomad 1.8's `disconnect` block). A side that cannot see
 * a run's node takes the run for lost:
 * - `replace`: whether it starts a replacement (false: the run is left alone for
 *   DISCONNECTED_LOST_AFTER_MS, in case its node is only cut off, then replaced);
 * - `reconcile`: when the sides meet again with two runs of one instance, which stays (the other
 *   is stopped and listed under `duplicates`); a run nobody contested is never restarted;
 * - `stopAfterMs`: a node cut off from every other storing node of the job this long stops its
 *   run and starts none (self-fencing), so that a duplicate cannot outlive the bound; null: never.
 */
export interface DisconnectPolicy {
  replace: boolean
  reconcile: ReconcileMode
  stopAfterMs: number | null
}

/** The policy of a job that sets none. */
export const DEFAULT_DISCONNECT: DisconnectPolicy = { replace: true, reconcile: 'longest_running', stopAfterMs: null }

/** A job's partition policy (records written before it existed have none: the default). */
export function disconnectOf(spec: JobSpec): DisconnectPolicy {
  return spec.disconnect ?? DEFAULT_DISCONNECT
}

/** A job as submitted, after defaults are filled in (the API fills them). */
export interface JobSpec {
  name: string
  command: string[]
  env: Record<string, string>
  resources: Resources
  count: number
  type: JobType
  constraints: JobConstraint[]
  restart: { attempts: number; backoffMs: number }
  timeoutMs: number
  /** What a partition does to its runs; absent on records from before it existed (the default). */
  disconnect?: DisconnectPolicy
}

export type AllocState = 'claimed' | 'running' | 'succeeded' | 'failed' | 'lost' | 'cancelled'
export type JobState = 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled'

/** One attempt of one instance on one node. `attempt` starts at 1 and is the fencing epoch. */
export interface Allocation {
  index: number
  attempt: number
  nodeId: NodeId
  nodeName: string
  state: AllocState
  exitCode: number | null
  startedAt: Millis | null
  finishedAt: Millis | null
  /** Why it ended, when it did not simply exit (timeout, oom, lost, killed, spawn failure). */
  reason?: string
  /**
   * Set on a run that moves an instance off a draining node: the attempt it replaces. That older
   * run keeps going until this one runs (it is not a zombie to fence), then it is stopped.
   */
  replaces?: number
  /**
   * Raised by the run's own node when others took the run for lost while it still ran (a
   * partition): a higher epoch outranks their `lost` in the merge (job-merge.ts). Absent: 0.
   */
  epoch?: number
  /** For a run taken for lost: the node that took it so (its arbiter, or its own node). */
  lostBy?: NodeId
}

/** A copy of a run that was found running where the record says it must not (a zombie), and stopped. */
export interface DuplicateRun {
  index: number
  attempt: number
  nodeId: NodeId
  nodeName: string
  stoppedAt: Millis
}

/**
 * Everything the cluster knows about one job. Replicated whole and merged field by field
 * (see job-merge.ts), so any two copies merge to the same result in any order.
 */
export interface JobRecord {
  // Which nodes store a job is not stored: it is the top 3 live nodes by rendezvous hash of the id
  // (see jobs.ts), so every node computes it, and it follows membership (replica repair).
  id: string
  spec: JobSpec
  submittedAt: Millis
  /** Set once by a cancel; never unset. */
  cancelled: boolean
  /** When it was cancelled (the earliest cancel wins); absent on records written before it existed. */
  cancelledAt?: Millis
  /** Every attempt of every instance ever made; key `${index}/${attempt}`. */
  allocations: Record<string, Allocation>
  /** Why the arbiter could not place an instance; `reasonVersion` orders competing reasons. */
  pendingReason: string
  reasonVersion: number
  /** Duplicate runs found and stopped, key `${index}/${attempt}@${nodeId}`; absent when none. */
  duplicates?: Record<string, DuplicateRun>
}

/**
 * The smallest fact that changes a job record, as it travels between nodes that hold the record.
 * Applying a delta is merging a partial record by the same lattice as whole records
 * (job-merge.ts `applyDelta`), so deltas and records may arrive in any order, any number of
 * times. A node that lacks the job cannot apply one: it asks for the whole record instead.
 */
export interface JobDelta {
  id: string
  /** Allocations as their author has them now (each merges by how far it got). */
  allocs?: Allocation[]
  /** Present: the job was cancelled at that time. */
  cancelledAt?: Millis
  /** A newer reason why an instance cannot be placed. */
  reason?: { text: string; version: number }
  /** Duplicate runs found and stopped. */
  duplicates?: DuplicateRun[]
}

/** A job as the API shows it (CONTRACT section 3, JobStatus). */
export interface JobStatus {
  id: string
  name: string
  type: JobType
  state: JobState
  submittedAt: string
  spec: JobSpec
  pendingReason?: string
  allocations: Array<{
    index: number; attempt: number; nodeId: NodeId; nodeName: string; state: AllocState
    exitCode: number | null; startedAt: string | null; finishedAt: string | null; reason?: string; replaces?: number
  }>
  /** Duplicate concurrent runs that were found and stopped (zombies of a frozen or cut-off node). */
  duplicates?: Array<{ index: number; attempt: number; nodeId: NodeId; nodeName: string; stoppedAt: string }>
  /** The nodes that store this job (as the answering node sees membership); first is its arbiter. */
  storedOn?: string[]
}

/** How choosy a cell is about a job another cell could take (admission.ts). */
export type AdmitMode = 'room' | 'spare'

/** API requests that change state go through the core; reads use its query methods. */
export type ApiRequest =
  /**
   * `movable`: no idempotency key names the id, so the node taking it may give the job another id
   * (another cell) when the id's cell has no room (cell-router.ts). `admit`: store it only if this
   * cell has room for it ('room') or has room and is not crowded ('spare'), else answer 409
   * no_room (admission.ts).
   */
  | { op: 'submit'; id: string; spec: JobSpec; movable?: boolean; admit?: AdmitMode }
  | { op: 'cancel'; id: string }
  /** One job's status, from its storing nodes when this node does not store it. */
  | { op: 'get'; id: string }
  /** Every job: each live node lists the ones it stores (`cellOnly`: the nodes of this node's cell). */
  | { op: 'list'; cellOnly?: boolean }
  /** Drain a node (or stop draining it): no new work; its runs move; batch runs move after the deadline. */
  /** `transient`: a drain for shutting down (SIGTERM), not kept across a restart. */
  | { op: 'drain'; node: NodeId; enable: boolean; deadlineMs: number; transient?: boolean }

export interface ApiReply {
  status: number
  body: unknown
}

/** What the execution layer reports when an allocation's process is gone. */
export interface ProcessExit {
  allocId: string
  exitCode: number | null
  signal: string | null
  reason: 'exited' | 'timeout' | 'killed' | 'oom' | 'spawn-failed'
  message?: string
}
