// Activity digests: how every node's event stream shows every job of its cell, and how arbiters
// learn who has room, with no message per job to every node.
//
// Each event has one author (jobs.ts tellEvents: the node that made the change; for a run's end,
// the job's arbiter). The author emits its events at once and collects them here, and publishes
// them in one digest on the cell's gossip topic with its free capacity and run count now, only
// when it did something, and at a rate bounded per cell: a node publishes at most every
// max(activityMs, live nodes x activityPerNodeMs), so that the digests of a whole cell stay under
// 1000 / activityPerNodeMs messages a second however large it is, and not before activityGatherMs
// after the first event it carries (a burst's events in one digest, after its hot path: see
// jobs-config.ts). Every other node of the cell emits the digest's events on its own stream (as
// heard: its author logged them) and updates its capacity view. Records and deltas that arrive
// by rpc never emit: every event reaches every node once, through its author.
//
// Cost per node: at most 1000 / activityPerNodeMs digests a second received, O(the cell's event
// rate) bytes, nothing when idle. Events reach other nodes' streams within one interval (250 ms
// at 5 nodes, 5 s at 100), and at least activityGatherMs (50 ms) after they happened. Gossip is
// best-effort: a lost digest loses events on some streams (GET reads the records, which the state
// exchange repairs) and leaves a capacity figure stale until that node's next digest or message
// (a start it cannot take is refused and placed again).
import { isEndedJobState } from './job-merge.js'
import type { Effect, JobEvent, Millis, NodeId, Resources } from './types.js'

/**
 * Jobs this node's stream has shown ended, at most this many (the oldest are forgotten first; a
 * job is collected after its retention window anyway).
 */
const ENDED_REMEMBERED = 50_000

/** Events one digest carries at most; more in one interval are counted as `dropped`. */
export const MAX_ACTIVITY_EVENTS = 256
/** Bytes of events one digest carries at most (about): far under the 64 KiB gossip message limit. */
const MAX_ACTIVITY_BYTES = 40 * 1024

export class Activity {
  private events: JobEvent[] = []
  private dropped = 0
  private bytes = 0
  private lastAt = -Infinity
  /** When the first event the next digest carries was authored (Infinity: none yet). */
  private firstEventAt = Infinity
  /** Our free capacity or run count changed since our last digest. */
  private capacityChanged = true
  /**
   * Jobs this node's stream has shown in a final state. Events come from several authors, each
   * with the job's state as its own copy had it, and a digest may arrive late: news of a run's
   * start can follow the arbiter's news of its end, and a node that restarted tells of its old
   * runs from its disk before it caught up. A stream never goes back from an ended job: such
   * later news of an earlier phase is dropped here.
   */
  private readonly ended = new Map<string, Millis>()
  /** No entry of `ended` is older than this (Infinity: none): sweep() looks at none before it may be due. */
  private endedFrom = Infinity

  constructor(
    private readonly selfId: NodeId,
    /** jobs-config.ts: activityMs, activityPerNodeMs, activityGatherMs. */
    private readonly timing: { intervalMs: Millis; perNodeMs: Millis; gatherMs: Millis },
    /** Live nodes of the cell (the publishers the rate is shared among). */
    private readonly liveNodes: () => number,
    /** How long the stream remembers an ended job (its retention window: news of it stops then). */
    private readonly rememberMs: number,
  ) {}

  /** How long after a digest the next may go. */
  private interval(): Millis {
    return Math.max(this.timing.intervalMs, this.liveNodes() * this.timing.perNodeMs)
  }

  /** When the next digest may go: an interval after the last, and a gathering time after its first event. */
  private readyAt(): Millis {
    return Math.max(this.lastAt + this.interval(), this.firstEventAt === Infinity ? -Infinity : this.firstEventAt + this.timing.gatherMs)
  }

  /** An event this node authored: emitted here at once, and published with the next digest. */
  authored(event: JobEvent, now: Millis, out: Effect[]): void {
    if (!this.onStream(event, now, out, false)) return
    if (this.firstEventAt === Infinity) this.firstEventAt = now
    // JSON's fixed part plus the strings that vary: close enough to keep a digest under its limit.
    const size = 120 + event.job.length + event.name.length + (event.node?.length ?? 0) + (event.reason?.length ?? 0)
    if (this.events.length < MAX_ACTIVITY_EVENTS && this.bytes + size <= MAX_ACTIVITY_BYTES) {
      this.events.push(event)
      this.bytes += size
    } else {
      this.dropped++
    }
  }

  /**
   * A job as this node's disk held it when it started again: an ended one counts as shown ended,
   * since the first life's stream showed it so, and later news of an earlier phase is old.
   */
  loaded(job: string, state: string, now: Millis): void {
    if (isEndedJobState(state) && !this.ended.has(job)) this.remember(job, now)
  }

  /** Jobs whose end this node's stream remembers. */
  remembered(): number {
    return this.ended.size
  }

  /** A job was collected: its stream entry goes. */
  forget(jobId: string): void {
    this.ended.delete(jobId)
  }

  /** Our free capacity or run count changed: the next digest says so. */
  capacity(): void {
    this.capacityChanged = true
  }

  /** When a digest is due, or the oldest remembered end is to be forgotten (Infinity: neither). */
  wakeAt(): Millis {
    const oldest = this.ended.values().next()
    const forget = oldest.done === true ? Infinity : oldest.value + this.rememberMs
    if (this.events.length === 0 && this.dropped === 0 && !this.capacityChanged) return forget
    return Math.min(forget, this.readyAt())
  }

  /** Whether a digest is due: something to say, and the interval since the last one passed (asked first, so that most steps, which publish none, do not look up the free capacity a digest carries). */
  due(now: Millis): boolean {
    if (this.events.length === 0 && this.dropped === 0 && !this.capacityChanged) return false
    return now >= this.readyAt()
  }

  /** Publish a digest when one is due (see due). */
  flush(now: Millis, free: Resources, allocations: number, out: Effect[]): void {
    if (!this.due(now)) return
    this.lastAt = now
    this.firstEventAt = Infinity
    const msg = { type: 'activity' as const, node: this.selfId, free, allocations, events: this.events, ...(this.dropped > 0 ? { dropped: this.dropped } : {}), at: now }
    this.events = []
    this.bytes = 0
    this.dropped = 0
    this.capacityChanged = false
    out.push({ kind: 'publish', msg })
  }

  /** Another node's digest: its events on our stream. */
  heard(msg: { node: NodeId; events: JobEvent[] }, now: Millis, out: Effect[]): void {
    if (msg.node === this.selfId) return
    for (const event of msg.events) this.onStream(event, now, out, true)
  }

  /** Put an event on this node's stream, unless it is news of an earlier phase of an ended job. */
  /** Forget ended jobs past the window (or over the bound), the oldest first: entries go in time order. */
  sweep(now: Millis): void {
    // Run on every tick: the map is not looked at before its oldest entry may be due.
    if (now - this.endedFrom <= this.rememberMs && this.ended.size < ENDED_REMEMBERED) return
    for (const [job, at] of this.ended) {
      if (now - at <= this.rememberMs && this.ended.size < ENDED_REMEMBERED) break
      this.ended.delete(job)
    }
    this.endedFrom = this.ended.values().next().value ?? Infinity
  }

  /** Entries go in in time order (`now` only grows), so the first one is the oldest. */
  private remember(job: string, now: Millis): void {
    this.ended.set(job, now)
    this.endedFrom = Math.min(this.endedFrom, now)
  }

  private onStream(event: JobEvent, now: Millis, out: Effect[], heard: boolean): boolean {
    this.sweep(now)
    const ended = this.ended.get(event.job)
    if (ended !== undefined && (event.state === 'pending' || event.state === 'running')) return false
    if (ended === undefined && isEndedJobState(event.state)) this.remember(event.job, now)
    out.push(heard ? { kind: 'emit', event, heard } : { kind: 'emit', event })
    return true
  }
}
