// How late a tick came. The runtime ticks every tickMs; a tick that comes much later means this
// node's event loop stalled (a GC pause, SIGSTOP, an overloaded machine), and the failure
// detector then gives its own deadlines back the time it lost instead of blaming others.
// A runtime may also skip ticks the core said would find nothing due (NodeCore.wakeAt; the
// simulator does): the gap up to that time is not a stall.
import type { Millis } from './types.js'

export class TickClock {
  private lastTickAt: Millis | undefined
  private sleepUntil = -Infinity

  constructor(private readonly tickMs: number) {}

  /** Whether a tick came yet. */
  get started(): boolean {
    return this.lastTickAt !== undefined
  }

  /** The runtime was told no tick matters before `at`. */
  sleep(at: Millis): void {
    this.sleepUntil = at
  }

  /** A tick at `now`: how much time the node lost to a stall since the last one (0: none). */
  tick(now: Millis): number {
    const last = this.lastTickAt
    this.lastTickAt = now
    if (last === undefined) return 0
    const expected = Math.max(last + this.tickMs, this.sleepUntil)
    this.sleepUntil = -Infinity
    const late = now - expected
    // 2 ticks late (3 since the last): timer jitter on a busy 2-core machine reaches a tick or two without any stall.
    return late + this.tickMs <= 3 * this.tickMs ? 0 : late
  }
}
