// The bench's clock: epoch milliseconds with sub-millisecond resolution. Job stamps come from
// `date +%s%N` (CLOCK_REALTIME), and every process here runs on one machine, so the bench and the
// jobs read the same clock.
import { epochOffsetMs } from '../../src/node/epoch-clock.js'

/**
 * Anchored to Date.now() once (src/node/epoch-clock.ts), then advanced by the monotonic clock. NTP
 * slews both clocks alike; only a step of the wall clock would part them during a run.
 */
const anchor = epochOffsetMs()

export function nowMs(): number {
  return anchor + performance.now()
}
