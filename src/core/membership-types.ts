// Types of the membership machine (membership.ts): what it starts with and asks of the job
// machine, its probes, what its outstanding requests were for, and its counters.
import type { Millis, NodeId, NodeRecord, Resources } from './types.js'

/** The node's own data, as it starts. */
export type SelfInfo = Pick<NodeRecord, 'id' | 'name' | 'addrs' | 'api' | 'resources' | 'labels' | 'draining' | 'allocations'>

/** Where probes get this node's free capacity, and tell the capacity a member's probe carried. */
export interface CapacityPort {
  own(): Resources
  heard(node: NodeId, free: Resources, now: Millis): void
}

export const NO_CAPACITY: CapacityPort = { own: () => ({ cpu: 0, memoryMb: 0 }), heard: () => undefined }

export interface Probe {
  target: NodeId
  seq: number
  directDeadline: Millis
  roundDeadline: Millis
  directFailed: boolean
  /** The direct ping was refused (connection refused/closed), not merely unanswered. */
  refused: boolean
  /** ...and specifically its dial was refused: nothing listens at the member's address. */
  connRefused?: boolean
  indirectSent: boolean
  indirectPending: number
  /** Its ping waits for a connection to the member (a dial): its deadlines start over once it is up. */
  dialing?: boolean
}

export type Pending =
  | { purpose: 'probe-direct'; target: NodeId; seq: number }
  | { purpose: 'probe-indirect'; target: NodeId; seq: number }
  | { purpose: 'relay'; target: NodeId; reqId: number; seq: number }
  | { purpose: 'sync'; peer: NodeId }
  | { purpose: 'sync-push' }
  | { purpose: 'leave'; peer: NodeId }
  /** A record told to one member directly (a suspicion to its suspect, checkers and accuser). */
  | { purpose: 'notice' }

/** Counters for /metrics; monotonic. */
export interface MembershipStats {
  probes: number
  indirectProbes: number
  suspicions: number
  refutations: number
  deathsDeclared: number
  syncs: number
  /** Current local health multiplier (a gauge, not a counter). */
  localHealth: number
  /** Dead or left members dropped from the table after reapAfterMs. */
  reaped: number
  /** Members this node first heard of in a gossip message (someone's announcement or relay). */
  learnedByGossip: number
  /** ... in a push-pull (a join, a new connection, the periodic one). */
  learnedByPushPull: number
  /** ... on a ping that carried a record (a suspicion told directly). */
  learnedOtherwise: number
  /** Members this node relayed: learned first hand in a push-pull (membership-outbox.ts). */
  relayed: number
}
