// rssMbAfterJobs: one agent alone runs `rssJobs` trivial jobs (20,000; fewer in quick mode),
// submitted in bulk by 8 submitters. Its VmRSS is read when the first `rssCheckpoint` jobs (2,000)
// have all ended, and again when all have, each after the same settle, so the two readings are
// taken alike. The agent gets --job-retention (60 s) when it knows that flag (its --help says so);
// otherwise it keeps every job and the figure says it was measured without retention.
// One run only: at ~tens of jobs a second, 20,000 jobs take minutes.
import { execFileSync } from 'node:child_process'
import { BIN } from '../../test/support/agents.js'
import { nowMs } from './clock.js'
import { BenchCluster, sleep, type AgentProc } from './cluster.js'
import { EventWatch } from './events.js'
import { mapLimit, submitTimed, TRUE_JOB } from './job-client.js'
import { waitAllEnded } from './measure-throughput.js'
import { rssMb } from './proc-stat.js'
import type { Measurement, RunResult } from './types.js'

const SUBMITTERS = 8
/** Before each reading: let the last jobs' bookkeeping and a collection cycle or two pass. */
const SETTLE_MS = 5_000

/** Whether this agent build takes --job-retention (the contract has it; older agents do not). */
export function agentKnowsRetention(): boolean {
  const help = execFileSync(process.execPath, [BIN, 'agent', '--help'], { encoding: 'utf8', timeout: 60_000 })
  return help.includes('--job-retention')
}

async function submitAll(agent: AgentProc, watch: EventWatch, count: number): Promise<void> {
  const ids = (await mapLimit(Array.from({ length: count }), SUBMITTERS, () => submitTimed(agent, TRUE_JOB))).map((s) => s.id)
  const states = await waitAllEnded(watch, agent, ids, 60_000 + count * 500)
  const bad = [...states.values()].filter((s) => s !== 'succeeded' && s !== 'gone').length
  if (bad > 0) throw new Error(`${bad} of ${count} jobs did not succeed`)
}

export const rss: Measurement = {
  name: 'rss',
  runs: () => 1,
  async run(ctx): Promise<RunResult> {
    const o = ctx.options
    const retention = agentKnowsRetention()
    const c = new BenchCluster(retention ? ['--job-retention', o.retention] : [])
    try {
      const { agents } = await c.launch(1, 'm')
      const agent = agents[0] as AgentProc
      const pid = agent.child.pid as number
      const watch = await EventWatch.open(agent.api)
      try {
        const t0 = nowMs()
        await submitAll(agent, watch, o.rssCheckpoint)
        await sleep(SETTLE_MS)
        const atCheckpoint = rssMb(pid)
        ctx.log(`rss: ${o.rssCheckpoint} jobs -> ${atCheckpoint.toFixed(1)} MB; submitting ${o.rssJobs - o.rssCheckpoint} more`)
        await submitAll(agent, watch, o.rssJobs - o.rssCheckpoint)
        const busyS = (nowMs() - t0) / 1000 - SETTLE_MS / 1000
        await sleep(SETTLE_MS)
        const atEnd = rssMb(pid)
        const notes: string[] = []
        if (!retention) notes.push(`rssMbAfterJobs: measured without retention (this agent has no --job-retention flag): it keeps all ${o.rssJobs} jobs`)
        if (o.rssJobs !== 20_000) notes.push(`rssMbAfterJobs: after ${o.rssJobs} jobs, compared with after ${o.rssCheckpoint} (the goal is stated for 20,000 vs 2,000)`)
        return {
          figures: { rssMbAfterJobs: atEnd, rssMbAtCheckpoint: atCheckpoint, rssGrowthRatio: atEnd / atCheckpoint, rssRunJobsPerSec: o.rssJobs / busyS },
          details: { jobs: o.rssJobs, checkpoint: o.rssCheckpoint, retention: retention ? o.retention : null },
          notes,
        }
      } finally {
        watch.close()
      }
    } finally {
      await c.stop()
    }
  },
}
