// Activity digests: how every node's event stream shows every job of its cell, and how arbiters
// learn who has room, with no message per job to every node.
//
// Each job change has one author (the arbiter for claims, losses and pending reasons, the runner
// for runs and ends and stopped duplicates, the node that took a submit or a cancel). The author
// emits its events at once and collects them here; at most every `activityMs`, and only when it
// did something, it publishes one digest on the cell's gossip topic with those events and its
// free capacity and run count now. Every other node of the cell emits the digest's events on its
// own stream and updates its capacity view. Records and deltas that arrive by rpc never emit:
// every event reaches every node once, through its author.
//
// Cost per node: one gossip message per active author per interval, O(the cell's event rate)
// bytes, nothing when idle. Gossip is best-effort: a lost digest loses events on some streams
// (GET reads the records, which the state exchange repairs) and leaves a capacity figure stale
// until that node's next digest or answer (a start it cannot take is refused and placed again).
import type { CapacityView } from './capacity-view.js'
import type { Effect, JobEvent, Millis, NodeId, Resources } from './types.js'

/** Events one digest carries at most; more in one interval are counted as `dropped`. */
export const MAX_ACTIVITY_EVENTS = 256
/** Bytes of events one digest carries at most (about): far under the 64 KiB gossip message limit. */
const MAX_ACTIVITY_BYTES = 40 * 1024

export class Activity {
  private events: JobEvent[] = []
  private dropped = 0
  private bytes = 0
  private lastAt = -Infinity
  /** Our free capacity or run count changed since our last digest. */
  private capacityChanged = true

  constructor(private readonly selfId: NodeId, private readonly intervalMs: number) {}

  /** An event this node authored: emitted here at once, and published with the next digest. */
  authored(event: JobEvent, out: Effect[]): void {
    out.push({ kind: 'emit', event })
    // JSON's fixed part plus the strings that vary: close enough to keep a digest under its limit.
    const size = 120 + event.job.length + event.name.length + (event.node?.length ?? 0) + (event.reason?.length ?? 0)
    if (this.events.length < MAX_ACTIVITY_EVENTS && this.bytes + size <= MAX_ACTIVITY_BYTES) {
      this.events.push(event)
      this.bytes += size
    } else {
      this.dropped++
    }
  }

  /** Our free capacity or run count changed: the next digest says so. */
  capacity(): void {
    this.capacityChanged = true
  }

  /** When a digest is due (Infinity: nothing to say). */
  wakeAt(): Millis {
    if (this.events.length === 0 && this.dropped === 0 && !this.capacityChanged) return Infinity
    return this.lastAt + this.intervalMs
  }

  /** Publish a digest when one is due. */
  flush(now: Millis, free: Resources, allocations: number, out: Effect[]): void {
    if (now < this.wakeAt()) return
    this.lastAt = now
    const msg = { type: 'activity' as const, node: this.selfId, free, allocations, events: this.events, ...(this.dropped > 0 ? { dropped: this.dropped } : {}) }
    this.events = []
    this.bytes = 0
    this.dropped = 0
    this.capacityChanged = false
    out.push({ kind: 'publish', msg })
  }

  /** Another node's digest: its events on our stream, its capacity in our view. */
  heard(msg: { node: NodeId; free: Resources; allocations: number; events: JobEvent[] }, view: CapacityView, now: Millis, out: Effect[]): void {
    if (msg.node === this.selfId) return
    view.heardFrom(msg.node, msg.free, msg.allocations, now)
    for (const event of msg.events) out.push({ kind: 'emit', event })
  }
}
