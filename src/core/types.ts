import type { ApiReply, ApiRequest, JobDelta, JobRecord, JobSpec, ProcessExit } from './job-types.js'

// The protocol core's vocabulary: what a node knows about others, the messages nodes exchange,
// and the events in / effects out of the deterministic state machine. Nothing here does I/O.

/** A node's identity: its libp2p peer id, as a string. */
export type NodeId = string

/** Milliseconds since the epoch, always passed in by the caller (the shell or the simulator). */
export type Millis = number

export type MemberState = 'alive' | 'suspect' | 'dead' | 'left'

export interface Resources {
  cpu: number
  memoryMb: number
}

/**
 * What the cluster knows about one node. Records are gossiped and exchanged whole; two records
 * about the same node are ordered by `compareRecords` (incarnation, then state, then seq), and
 * merging keeps the greater one, so the merge is idempotent, commutative and associative.
 */
export interface NodeRecord {
  id: NodeId
  name: string
  /** Bumped only by the node itself: on start and to refute a suspicion or death of itself. */
  incarnation: number
  state: MemberState
  /** The owner's sequence number for changes of its data (capacity, labels, drain) within one incarnation. */
  seq: number
  /** For suspect/dead records: the node that made the claim. Empty for the owner's own records. */
  by: NodeId
  addrs: string[]
  api: string
  resources: { total: Resources; free: Resources }
  labels: Record<string, string>
  draining: boolean
  allocations: number
}

/** A job event as the activity digests carry it (the `job` kind of ClusterEvent). */
export type JobEvent = Extract<ClusterEvent, { type: 'job' }>

/** Messages published on the cluster gossip topic. */
export type GossipMessage =
  | { type: 'records'; records: NodeRecord[] }
  /**
   * What one node did lately (activity.ts): the job events it authored since its last digest
   * (`dropped` more that did not fit), and its free capacity and run count now. Published at a
   * bounded rate, only when something happened: this is how every node's event stream shows
   * every job, and how arbiters know who has room, without a message per job to every node.
   * `at` is the author's clock when it published (absent from older nodes): a node drops digests
   * published before it started (see NodeCore's `gossip` case).
   */
  | { type: 'activity'; node: NodeId; free: Resources; allocations: number; events: JobEvent[]; dropped?: number; at?: Millis }

/** How to reach a node of another cell (src/core/directory.ts). */
export interface Contact {
  id: NodeId
  addrs: string[]
  incarnation: number
}

/** One run of one instance of a job: (job, index, attempt). */
export interface AllocRef {
  id: string
  index: number
  attempt: number
}

/** job id -> digest of the sender's copy (src/core/job-exchange.ts). */
export type JobDigests = Record<string, string>

/** Direct request messages (one request, one response, over a libp2p stream). */
export type RpcRequest =
  /** A probe. `free`: the prober's free capacity (capacity rides on probes: capacity-view.ts). */
  | { type: 'ping'; seq: number; from: NodeRecord | null; free?: Resources }
  | { type: 'ping-req'; seq: number; target: NodeId }
  /**
   * Push-pull. With `digest` (see table-digest.ts) the answer carries only the records of buckets
   * that differ; without it, the whole table.
   */
  | { type: 'sync'; records: NodeRecord[]; digest?: string[]; cells?: number }
  /** The initiator's records of the buckets a delta sync found different. */
  | { type: 'sync-push'; records: NodeRecord[] }
  | { type: 'leave'; record: NodeRecord }
  /**
   * A new job, to its arbiter (its first live storing node): store it, have the other storing
   * nodes store it, and answer once min(replicas, live) have it on disk. The arbiter places its
   * instances in the same step, so the claims ride on those stores.
   */
  | { type: 'submit-job'; job: JobRecord; reserved?: NodeId }
  /**
   * Keep this job on disk; answer after the write. `start`: claims of this record on the
   * receiver whose grant is complete, to start once it is written (job-grants.ts). `reserved`:
   * as in submit-job (a store sent by a node that took the submit when its arbiter did not answer).
   */
  | { type: 'store-job'; job: JobRecord; start?: AllocRef[]; reserved?: NodeId }
  /** Keep these whole records (replica repair, anti-entropy pushes); answer after the write. */
  | { type: 'job-update'; jobs: JobRecord[] }
  /**
   * Facts that change jobs the receiver holds (job-outbox.ts); the answer names the jobs it lacks
   * (`want`), which the sender then sends whole. `start`: as in store-job. `free`: the sender's
   * free capacity now (capacity rides on messages: a runner's end report says what it freed).
   */
  | { type: 'job-delta'; deltas: JobDelta[]; start?: AllocRef[]; free?: Resources }
  /** Run this claim of a job the receiver does not store (the whole record comes with it). */
  | { type: 'start'; job: JobRecord; index: number; attempt: number }
  /** What is your free capacity now? (Answered `ok` with `free`: an arbiter whose view has no room asks.) */
  | { type: 'capacity' }
  /**
   * Hold room for one instance of job `id` for a few seconds (admission.ts): a job a cell admitted
   * must not lose the room it was admitted for to a job admitted a moment later. Answered `ok`
   * when held, `error` when there is no room.
   */
  | { type: 'hold'; id: string; resources: Resources }
  /** Drain this node (enable) or stop draining it; batch runs still here after the deadline move. */
  | { type: 'drain'; enable: boolean; deadlineMs: number }
  /**
   * Job anti-entropy between nodes that share jobs (storing nodes, runners): the sender's digests
   * of the jobs it thinks both hold. The answer carries the records that differ or that the sender
   * should hold and did not list, and the ids the answering node wants.
   */
  | { type: 'job-sync'; digests: JobDigests }
  /** Contacts in other cells, exchanged (the answer is the same message from the other side). */
  | { type: 'directory'; contacts: Contact[]; cells?: number }
  /** An API request for a job (or node) of the receiver's cell, from a node of another cell. */
  | { type: 'api'; req: ApiRequest }
  /** The records of these jobs that you hold; null: every job you store (a cluster-wide listing). */
  | { type: 'job-fetch'; ids: string[] | null; after?: string }

export type RpcResponse =
  /** A probe's answer; `free` as in ping (absent from a relay's ack). */
  | { type: 'ack'; seq: number; free?: Resources }
  | { type: 'nack'; seq: number }
  | { type: 'sync'; records: NodeRecord[]; buckets?: number[] }
  | { type: 'directory'; contacts: Contact[]; cells?: number }
  | { type: 'api-reply'; status: number; body: unknown }
  /**
   * `next`: a listing page was cut short (size); ask again with `after: next`. `collected`: jobs
   * asked for that were collected after their retention (retention.ts).
   */
  | { type: 'jobs'; jobs: JobRecord[]; want?: string[]; next?: string; collected?: string[] }
  /**
   * Done (stored, merged, started). `free`: the answering node's free capacity after it (capacity
   * rides on answers). `want`: jobs a job-delta named that the node does not hold. `conflicts`:
   * claims (allocation ids) it carried that the node holds for another node, which it does not grant.
   */
  | { type: 'ok'; free?: Resources; want?: string[]; conflicts?: string[] }
  | { type: 'error'; code: string; message: string }

/**
 * Why a direct request produced no response. `refused`: the peer's address refused the connection
 * (nothing listens there: the process is gone); `unreachable`: any other failure to talk to it.
 */
export type RpcFailure = 'timeout' | 'refused' | 'unreachable' | 'protocol'

/** Events the shell (or simulator) feeds into the core. `now` comes with every call. */
export type CoreEvent =
  | { kind: 'tick' }
  | { kind: 'gossip'; from: NodeId; msg: GossipMessage }
  | { kind: 'rpc-request'; from: NodeId; reqId: number; msg: RpcRequest }
  | { kind: 'rpc-response'; from: NodeId; corr: number; msg: RpcResponse }
  | { kind: 'rpc-failed'; to: NodeId; corr: number; reason: RpcFailure }
  | { kind: 'peer-connected'; peer: NodeId }
  | { kind: 'peer-disconnected'; peer: NodeId }
  /** The operator asked this node to leave (SIGTERM/Ctrl-C). */
  | { kind: 'leave' }
  | { kind: 'api'; reqId: number; req: ApiRequest }
  | { kind: 'process-exit'; exit: ProcessExit }
  /** The node's own advertised data changed (free capacity, labels, addresses, drain). */
  | { kind: 'self-update'; patch: Partial<Pick<NodeRecord, 'addrs' | 'api' | 'resources' | 'labels' | 'draining' | 'allocations'>> }

/** A change worth telling users about (SSE, logs). */
export type ClusterEvent =
  | { type: 'node'; node: NodeId; name: string; from: MemberState | 'unknown'; to: MemberState; incarnation: number; reason: string }
  | { type: 'job'; job: string; name: string; state: string; index?: number; attempt?: number; node?: string; allocState?: string; reason?: string }

/** Effects the core asks the shell to carry out. */
export type Effect =
  | { kind: 'publish'; msg: GossipMessage }
  /** Send a request; the answer comes back as rpc-response or rpc-failed with the same corr. */
  | { kind: 'send'; to: NodeId; corr: number; msg: RpcRequest; timeoutMs: number }
  /**
   * Answer an inbound rpc-request (after any persist effect before it in its step has completed;
   * with `afterAllWrites`, after every write made before it, in any step: the answer to a submit
   * whose copies left ahead of this node's own write, job-submit.ts).
   */
  | { kind: 'reply'; reqId: number; msg: RpcResponse; afterAllWrites?: true }
  /** Store a value durably before acting further on it (key/value, JSON-serialisable). */
  | { kind: 'persist'; key: string; value: unknown }
  /** Delete a stored value (a job past its retention). */
  | { kind: 'unpersist'; key: string }
  /** Delete what a run left on this node (its directory and logs): its job was collected. */
  | { kind: 'remove-run'; allocId: string }
  /**
   * Show an event on this node's stream. `heard`: another node authored it (its activity digest
   * brought it); that node logs it, so this one only shows it.
   */
  | { kind: 'emit'; event: ClusterEvent; heard?: true }
  /** Answer an API request (after any persist effect before it has completed; `afterAllWrites` as for reply). */
  | { kind: 'api-reply'; reqId: number; reply: ApiReply; afterAllWrites?: true }
  | { kind: 'start-process'; allocId: string; jobId: string; index: number; attempt: number; spec: JobSpec }
  | { kind: 'kill-process'; allocId: string; reason: 'killed' | 'timeout' }

/** A node as the HTTP API shows it (CONTRACT section 3, NodeStatus). */
export interface NodeStatus {
  id: NodeId
  name: string
  state: MemberState | 'draining'
  incarnation: number
  addrs: string[]
  api: string
  resources: { total: Resources; free: Resources }
  labels: Record<string, string>
  allocations: number
  /** Milliseconds since this node last heard from (or about a fresh state of) that node; 0 for itself. */
  lastSeenMs: number
}
