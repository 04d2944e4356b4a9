// Retention: a job that ended is kept for a window (`--job-retention`, default 1 h, as Nomad's
// job_gc_threshold keeps terminal jobs), then collected: gone from memory and disk on every node
// that held it, with what its runs left on this node (directory, logs). No message decides it:
// each node computes the same moment from the record itself (when the job ended, job-merge.ts
// jobEndedAt, plus the window), so collection is O(1) messages, and a copy of a collected job
// that comes back from a node that has not collected it yet (a slower clock, a node that was
// down) is collected again at once: the rule is the same wherever the record goes.
//
// A collected job leaves a tombstone for as long again (at most MAX_TOMBSTONES of them): a read
// of its id answers 404 `collected`, and a submit with the same idempotency key is answered with
// the same id and creates nothing.
import { jobEndedAt } from './job-merge.js'
import type { JobRecord } from './job-types.js'
import type { Millis } from './types.js'

/** Tombstones kept at most (the oldest go first): bounded memory whatever the job rate. */
export const MAX_TOMBSTONES = 100_000

/** Entries due at one same time that noteSet compares a job with. */
const SAME_TIME_SCAN = 32

export class Retention {
  // Ended jobs by when they are due, earliest first (kept sorted: most jobs end in order). Two
  // parallel arrays, not an array of {at, id}: every job that ended is in here for its whole
  // window, and a packed array of numbers holds a time in 8 bytes where an object and its boxed
  // number took about 40.
  private dueTimes: Millis[] = []
  private dueIds: string[] = []
  /** Collected jobs: id -> when (insertion order is collection order). */
  private readonly tombstones = new Map<string, Millis>()
  /**
   * No tombstone is older than this (Infinity: none held). They go in in time order, so the sweep
   * on every tick looks at no entry until the oldest may be due (the map is cold in cache).
   */
  private tombstonesFrom = Infinity

  constructor(private readonly retentionMs: number) {}

  /** When a job that ended at `endedAt` is collected. */
  dueAt(endedAt: Millis): Millis {
    return endedAt + this.retentionMs
  }

  /**
   * A record was set: if it ended, it is due a retention window later. A record is set again on
   * every change, and an ended job still changes (its end reaches the other copies, an exchange
   * brings a copy back): the same job due at the same time is listed once.
   */
  noteSet(r: JobRecord): void {
    const ended = jobEndedAt(r)
    if (ended === null) return
    const at = this.dueAt(ended)
    // Binary search from the end: records mostly end in time order.
    let lo = 0
    let hi = this.dueTimes.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((this.dueTimes[mid] as Millis) <= at) lo = mid + 1
      else hi = mid
    }
    // Looks back over the entries due at that same time, a few at most: a duplicate past them
    // costs an entry, never a second collection (takeDue lists each id once).
    for (let i = lo - 1; i >= Math.max(0, lo - SAME_TIME_SCAN) && this.dueTimes[i] === at; i--) if (this.dueIds[i] === r.id) return
    this.dueTimes.splice(lo, 0, at)
    this.dueIds.splice(lo, 0, r.id)
  }

  /** Whether a copy of this job is past its window already (it must not be taken in). */
  expired(r: JobRecord, now: Millis): boolean {
    const ended = jobEndedAt(r)
    return ended !== null && this.dueAt(ended) <= now
  }

  /** Ids due now; `current` says whether the job still ended then (a record may have changed since). */
  takeDue(now: Millis, current: (id: string) => JobRecord | undefined): string[] {
    const out = new Set<string>()
    let i = 0
    while (i < this.dueTimes.length && (this.dueTimes[i] as Millis) <= now) {
      const id = this.dueIds[i] as string
      i++
      const r = current(id)
      if (r !== undefined && this.expired(r, now)) out.add(id)
    }
    if (i > 0) {
      this.dueTimes = this.dueTimes.slice(i)
      this.dueIds = this.dueIds.slice(i)
    }
    return [...out]
  }

  /** When the next job is due (Infinity: none). */
  wakeAt(): Millis {
    return this.dueTimes[0] ?? Infinity
  }

  /** A job was collected: its tombstone stands for a retention window (and old ones go). */
  collected(id: string, now: Millis): void {
    this.tombstones.delete(id)
    this.tombstones.set(id, now)
    this.tombstonesFrom = Math.min(this.tombstonesFrom, now)
    while (this.tombstones.size > MAX_TOMBSTONES) this.tombstones.delete(this.tombstones.keys().next().value as string)
  }

  /** Whether `id` was collected within the last retention window. */
  isCollected(id: string, now: Millis): boolean {
    const at = this.tombstones.get(id)
    if (at === undefined) return false
    if (now - at <= this.retentionMs) return true
    this.tombstones.delete(id)
    return false
  }

  /** Drop tombstones older than a window (on ticks: bounded work, oldest first). */
  sweepTombstones(now: Millis): void {
    if (now - this.tombstonesFrom <= this.retentionMs) return
    for (const [id, at] of this.tombstones) {
      if (now - at <= this.retentionMs) break
      this.tombstones.delete(id)
    }
    this.tombstonesFrom = this.tombstones.values().next().value ?? Infinity
  }

  /** Entries kept (tests: bounded). */
  size(): { due: number; tombstones: number } {
    return { due: this.dueTimes.length, tombstones: this.tombstones.size }
  }
}
