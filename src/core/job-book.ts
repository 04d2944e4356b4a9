// What the parts of the job machine share. `Jobs` (src/core/jobs.ts) owns the job table and the
// ways to change and spread it; the arbiter (placement of instances), the runner (the instances
// this node runs) and replica repair each get this narrow view of it instead of the whole class.
import type { Allocation, JobRecord } from './job-types.js'
import type { JobsConfig } from './jobs-config.js'
import type { Effect, Millis, NodeId, NodeRecord, RpcRequest } from './types.js'

/** What the jobs machine needs to know of membership. */
export interface MemberView {
  readonly selfId: NodeId
  records(): NodeRecord[]
  record(id: NodeId): NodeRecord | undefined
  selfRecord(): NodeRecord
  /** Live members but this node, sorted; the same array until the live set changes (do not change it). */
  liveOthers(): readonly NodeId[]
  /** Changes whenever a member becomes live or stops being live (a cache key for the live set). */
  liveVersion(): number
  /** Changes whenever any member's record changes (a cache key for anything read from records). */
  tableVersion(): number
  /** Change this node's own drain flag (membership announces it). */
  setDraining(draining: boolean, now: Millis, out: Effect[]): void
}

/** Why a request went out: its answer (or failure) is routed by this. */
export type Pending =
  | { purpose: 'store'; reqId: number; node: NodeId }
  | { purpose: 'offer'; jobId: string; index: number; attempt: number; node: NodeId; replaces?: number }
  | { purpose: 'grant'; grantId: string }
  | { purpose: 'start'; jobId: string; index: number; attempt: number }
  | { purpose: 'update' }
  | { purpose: 'sync-push' }
  | { purpose: 'drain'; reqId: number; node: NodeId }
  | { purpose: 'repair'; node: NodeId; ids: string[] }
  | { purpose: 'job-sync'; node: NodeId }
  | { purpose: 'end'; allocId: string; node: NodeId }
  | { purpose: 'capacity'; key: string; jobId: string; node: NodeId }
  | { purpose: 'admit'; check: number; node: NodeId; offer: boolean }
  | { purpose: 'read'; readId: number; node: NodeId }

export interface JobsStats {
  submitted: number
  placed: number
  offersRejected: number
  duplicatesStopped: number
  started: number
  /** Job copies sent to a node that became one of its storing nodes. */
  replicasRepaired: number
  /** Runs moved off a draining node (a replacement ran first). */
  drainMoves: number
  /** Offers whose answer never came (dropped after twice the offer timeout). */
  offersLost: number
  /** Nodes asked for their free capacity (sampled placement, above gossipMaxNodes). */
  capacityAsks: number
}

export interface JobBook {
  readonly members: MemberView
  readonly config: JobsConfig
  readonly stats: JobsStats
  get(jobId: string): JobRecord | undefined
  /** Change one allocation, as its author (arbiter or runner): merged, replicated, gossiped. */
  update(jobId: string, alloc: Allocation, now: Millis, out: Effect[]): void
  /** A change made here: merged, replicated to the storing nodes and runners, gossiped. */
  author(r: JobRecord, now: Millis, out: Effect[]): void
  /** A copy from elsewhere (or our own, not to be replicated again); see Jobs.merge. */
  merge(incoming: JobRecord, now: Millis, out: Effect[], authored?: boolean, replicate?: boolean, persist?: boolean): void
  /** Send a request; its answer comes back routed by `p`. Returns the request's corr. */
  send(out: Effect[], to: NodeId, msg: RpcRequest, timeoutMs: number, p: Pending): number
  /** Stop waiting for a request's answer. */
  forget(corr: number): void
  /** The job's storing nodes, best first; the first is its arbiter. */
  replicaSet(jobId: string): NodeId[]
  /** Look at this job again at the end of this step. */
  touch(jobId: string): void
  /** Free capacity is not announced (too many members): placement asks (capacity-sample.ts). */
  sampling(): boolean
}

export const live = (r: NodeRecord | undefined): boolean => r !== undefined && (r.state === 'alive' || r.state === 'suspect')
