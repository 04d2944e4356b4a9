// Deltas on their way to other nodes, batched per destination. Everything the job machine sends
// a node in one step (a run's end, a claim, a cancel, several jobs' worth under load) goes as one
// `job-delta` message at the end of the step, with the tag of each delta, so the answer can be
// routed to whoever waits for it (the runner's end reports, the grants).
import type { JobDelta } from './job-types.js'
import type { AllocRef, NodeId } from './types.js'

/** Who waits for the answer about one delta. */
export type DeltaTag =
  | { kind: 'plain' }
  /** A run's end report (runner.ts): the first storing node to take it makes it ours. */
  | { kind: 'end'; allocId: string }
  /** A claim's grant (job-grants.ts): the start waits until every storing node has it. */
  | { kind: 'grant'; allocId: string }

const PLAIN: DeltaTag = { kind: 'plain' }
const NO_BATCHES: readonly DeltaBatch[] = []

/** One destination's batch. */
export interface DeltaBatch {
  to: NodeId
  deltas: JobDelta[]
  /** Per delta, in order: who waits for its answer. */
  tags: Array<{ jobId: string; tag: DeltaTag }>
}

export class JobOutbox {
  private readonly queued = new Map<NodeId, DeltaBatch>()

  get size(): number {
    return this.queued.size
  }

  /** Send `delta` to `to` with this step's batch. */
  add(to: NodeId, delta: JobDelta, tag: DeltaTag = PLAIN): void {
    let b = this.queued.get(to)
    if (b === undefined) this.queued.set(to, b = { to, deltas: [], tags: [] })
    b.deltas.push(delta)
    b.tags.push({ jobId: delta.id, tag })
  }

  /** The batches of this step, one per destination, in the order first queued; the outbox is empty after. */
  take(): readonly DeltaBatch[] {
    // Asked at the end of every step, and most steps queue nothing: no array, and no clear()
    // (which allocates a fresh table in V8 even for an empty map).
    if (this.queued.size === 0) return NO_BATCHES
    const batches = [...this.queued.values()]
    this.queued.clear()
    return batches
  }
}

/** The refs of a batch's runs to start, if any (kept apart from the deltas: a start is an order, not a fact). */
export type StartRefs = AllocRef[]
