// API requests a node's core makes of itself: an `api` rpc from a node of another cell, and the
// part of a routed request that falls to our own cell (cell-router.ts). The job machine answers
// them as it answers the API, with an `api-reply` effect under a reqId of its own (negative, so
// never one the runtime gave out); NodeCore takes that effect out of the step's effects and
// resumes what was waiting for it. What was waiting is a typed record here, kept until the reply
// comes (a submit's reply waits for its storing nodes' disks: a later step), not a closure.
import type { Listing, Spill } from './cell-router.js'

/** What an API request the core made of itself was for: where its reply goes. */
export type SelfRequest =
  /** An `api` rpc from a node of another cell: the reply is that rpc's answer (reqId: the rpc's). */
  | { purpose: 'forwarded-rpc'; reqId: number }
  /** A request the router ran in our own cell for an API request: the reply is its reply (reqId: the API's). */
  | { purpose: 'api'; reqId: number }
  /** Our own cell's admission of a movable submit: a refusal tries the next cell. */
  | { purpose: 'spill'; spill: Spill }
  /** Our own cell's part of a cluster-wide listing. */
  | { purpose: 'listing'; listing: Listing }

/** The API requests a core made of itself and has no reply for yet, by their (negative) reqId. */
export class SelfRequests {
  private readonly pending = new Map<number, SelfRequest>()
  private next = -1

  /** A new request; returns the reqId to hand the job machine. */
  open(p: SelfRequest): number {
    const reqId = this.next--
    this.pending.set(reqId, p)
    return reqId
  }

  /** The request a reply with this reqId answers (removed), or undefined when it is not ours. */
  take(reqId: number): SelfRequest | undefined {
    const p = this.pending.get(reqId)
    if (p !== undefined) this.pending.delete(reqId)
    return p
  }

  get size(): number {
    return this.pending.size
  }
}
