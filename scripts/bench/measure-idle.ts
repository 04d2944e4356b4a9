// idleCpuPercentPerAgent and rssMbPerAgent: the shared cluster, converged and with no jobs, each
// agent's CPU time over one window (utime + stime from /proc) as a percentage of one core, and its
// VmRSS at the window's end; a run's figure is the mean over the agents (the busiest one is in
// the details). The bench itself only sleeps during the window: nothing is polled.
//
// The first window starts `idleSettleMs` (60 s; quick 5 s) after the cluster converged: what an
// agent does in its first minute is not what it costs idle. Joins leave push-pull syncs behind
// (one per new connection), and V8 is still collecting start-up garbage and compiling: 5 idle
// agents measured in 20 s windows from their launch used 1.27, 0.87, then 0.54-0.71% of a core,
// with the same probe and sync rates after the first window (bench/README.md).
import { nowMs } from './clock.js'
import { sleep } from './cluster.js'
import { cpuSeconds, rssMb } from './proc-stat.js'
import type { Measurement } from './types.js'

export const idle: Measurement = {
  name: 'idle',
  runs: (o) => o.runs,
  async run(ctx, index) {
    const cluster = await ctx.sharedCluster()
    const agents = cluster.live()
    const settledAt = (cluster.convergedAt ?? nowMs()) + ctx.options.idleSettleMs
    if (index === 0) await sleep(Math.max(0, settledAt - nowMs()))
    const sinceConvergedS = cluster.convergedAt === null ? null : (nowMs() - cluster.convergedAt) / 1000
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
      details: { windowS: seconds, sinceConvergedS, peers: agents.length - 1, busiestCpuPercent: Math.max(...cpu), largestRssMb: Math.max(...rss) },
    }
  },
}
