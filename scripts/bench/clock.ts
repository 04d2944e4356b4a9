// The bench's clock: epoch milliseconds with sub-millisecond resolution. Job stamps come from
// `date +%s%N` (CLOCK_REALTIME), and every process here runs on one machine, so the bench and the
// jobs read the same clock.

/**
 * Anchored to Date.now() once, on a millisecond edge (so the offset is exact to the
 * microsecond), then advanced by the monotonic clock. The monotonic clock does not follow NTP
 * slews, so over a bench run it parts from the wall clock by at most the slew (a few ppm), well
 * under a millisecond.
 */
const anchor = ((): number => {
  const t = Date.now()
  for (;;) {
    const d = Date.now()
    if (d !== t) return d - performance.now()
  }
})()

export function nowMs(): number {
  return anchor + performance.now()
}
