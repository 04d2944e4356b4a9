// Epoch milliseconds with sub-millisecond resolution, for stamps that several processes on one
// machine compare: the bench's (scripts/bench/clock.ts), the latency trace's (lat-trace.ts) and
// the jobs' own `date +%s%N`, all reading this machine's CLOCK_REALTIME.

/**
 * The offset that turns performance.now() into epoch milliseconds, read on a millisecond edge of
 * Date.now() so that it is exact to a few microseconds.
 *
 * The first performance.now() of a process is slow (it initialises its binding lazily: 0.7–2.5 ms
 * measured here), and a reading taken across that call comes out late by as much, which made every
 * clock anchored at module load run that far behind the wall clock. So both clocks are read once
 * before the edges, and of several edges the largest offset wins: a late performance.now() can only
 * make an offset smaller.
 */
export function epochOffsetMs(edges = 3): number {
  performance.now()
  Date.now()
  let best = -Infinity
  for (let i = 0; i < edges; i++) {
    const t = Date.now()
    let d = Date.now()
    while (d === t) d = Date.now()
    best = Math.max(best, d - performance.now())
  }
  return best
}
