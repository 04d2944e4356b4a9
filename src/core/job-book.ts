// What the parts of the job machine share. `Jobs` (src/core/jobs.ts) owns the job table and the
// ways to change and send it; the arbiter (placement), the grants (claims made durable before a
// start), the runner (this node's runs), submits, replica repair and the state exchange each get
// this narrow view of it instead of the whole class.
import type { CapacityView } from './capacity-view.js'
import type { DeltaTag, JobOutbox } from './job-outbox.js'
import type { JobDelta, JobRecord } from './job-types.js'
import type { JobsConfig } from './jobs-config.js'
import type { Effect, JobEvent, Millis, NodeId, NodeRecord, RpcRequest } from './types.js'

/** What the jobs machine needs to know of membership. */
export interface MemberView {
  readonly selfId: NodeId
  records(): NodeRecord[]
  record(id: NodeId): NodeRecord | undefined
  selfRecord(): NodeRecord
  /** When we last had a message straight from a member (undefined: never). */
  lastHeard(id: NodeId): Millis | undefined
  /** Live members but this node, sorted; the same array until the live set changes (do not change it). */
  liveOthers(): readonly NodeId[]
  /** Changes whenever a member becomes live or stops being live (a cache key for the live set). */
  liveVersion(): number
  /** Changes whenever any member's record changes (a cache key for anything read from records). */
  tableVersion(): number
  /** Change this node's own drain flag (membership announces it). */
  setDraining(draining: boolean, now: Millis, out: Effect[]): void
}

/** Why a request went out: its answer (or failure) is routed by this. One owner per purpose. */
export type Pending =
  /** A new job sent to its arbiter (job-submit.ts). */
  | { purpose: 'submit'; reqId: number; node: NodeId }
  /** A copy of a new job to a storing node; it carried these claims (job-submit.ts, job-grants.ts). */
  | { purpose: 'store'; jobId: string; node: NodeId; claims: string[] }
  /** A batch of deltas (job-outbox.ts), and whole records sent after it for jobs the node lacked. */
  | { purpose: 'deltas'; node: NodeId; tags: Array<{ jobId: string; tag: DeltaTag }> }
  /** A start, with the job's record (job-grants.ts). */
  | { purpose: 'start'; allocId: string; jobId: string; node: NodeId }
  | { purpose: 'drain'; reqId: number; node: NodeId }
  | { purpose: 'repair'; node: NodeId; ids: string[] }
  | { purpose: 'job-sync'; node: NodeId }
  | { purpose: 'sync-push' }
  | { purpose: 'read'; readId: number; node: NodeId }
  /** A capacity ask (arbiter.ts), or one for an admission (`admit`: its API request, job-submit.ts). */
  | { purpose: 'capacity'; node: NodeId; admit?: number }
  /** A hold of room for an admitted job's first instance (job-submit.ts; `admit`: its API request). */
  | { purpose: 'hold'; node: NodeId; admit: number }
  /** Fresh copies of a job whose start a stalled runner put off (runner.ts). */
  | { purpose: 'refresh'; node: NodeId }

export interface JobsStats {
  submitted: number
  /** Claims made (instance attempts placed). */
  placed: number
  /** Starts a node refused (no room by its own books, though our view said it had). */
  startsRefused: number
  duplicatesStopped: number
  started: number
  /** Job copies sent to a node that became one of its storing nodes. */
  replicasRepaired: number
  /** Runs moved off a draining node (a replacement ran first). */
  drainMoves: number
  /** Jobs collected after their retention window. */
  collected: number
  /** Nodes asked for their free capacity (the view had no room for an instance). */
  capacityAsks: number
  /**
   * Placement passes that found no room for an instance, which then waits. A full cell's cost:
   * each is a ranking of the cell, and a freed slot should wake about one, not every waiting one.
   */
  noRoomPasses: number
}

export interface JobBook {
  readonly members: MemberView
  readonly config: JobsConfig
  readonly stats: JobsStats
  readonly capacity: CapacityView
  readonly outbox: JobOutbox
  get(jobId: string): JobRecord | undefined
  /** Our change: merged, its events emitted, and sent to the job's storing nodes and runners. */
  author(d: JobDelta, now: Millis, out: Effect[]): JobRecord | undefined
  /** Our change, kept here: the caller sends it where it must go (grants, the runner's reports). */
  note(d: JobDelta, now: Millis, out: Effect[]): JobRecord | undefined
  /** An event this node authored beyond a record's own changes (activity.ts spreads it). */
  announce(event: JobEvent, now: Millis, out: Effect[]): void
  /** Send a request; its answer comes back routed by `p`. Returns the request's corr. */
  send(out: Effect[], to: NodeId, msg: RpcRequest, timeoutMs: number, p: Pending): number
  /** The job's storing nodes, best first; the first is its arbiter. */
  replicaSet(jobId: string): NodeId[]
  /** Look at this job again at the end of this step. */
  touch(jobId: string): void
}

export const live = (r: NodeRecord | undefined): boolean => r !== undefined && (r.state === 'alive' || r.state === 'suspect')
