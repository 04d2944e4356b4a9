// idleCpuPercentPerAgent and rssMbPerAgent: the shared cluster, converged and with no jobs, each
// agent's CPU time over one window (utime + stime from /proc) as a percentage of one core, and its
// VmRSS at the window's end; a run's figure is the mean over the agents (the busiest one is in
// the details). The bench itself only sleeps during the window: nothing is polled.
import { sleep } from './cluster.js'
import { cpuSeconds, rssMb } from './proc-stat.js'
import type { Measurement } from './types.js'

/** Joins leave work behind (a sync on each new connection, capacity announcements): let it pass. */
const SETTLE_MS = 5_000

export const idle: Measurement = {
  name: 'idle',
  runs: (o) => o.runs,
  async run(ctx, index) {
    const cluster = await ctx.sharedCluster()
    const agents = cluster.live()
    if (index === 0) await sleep(SETTLE_MS)
    const pids = agents.map((a) => a.child.pid as number)
    const before = pids.map(cpuSeconds)
    const t0 = performance.now()
    await sleep(ctx.options.idleWindowMs)
    const seconds = (performance.now() - t0) / 1000
    const cpu = pids.map((pid, i) => ((cpuSeconds(pid) - (before[i] as number)) / seconds) * 100)
    const rss = pids.map(rssMb)
    const mean = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length
    return {
      figures: { idleCpuPercentPerAgent: mean(cpu), rssMbPerAgent: mean(rss) },
      details: { windowS: seconds, peers: agents.length - 1, busiestCpuPercent: Math.max(...cpu), largestRssMb: Math.max(...rss) },
    }
  },
}
