// throughputJobsPerSec and bareSpawnPerSec, in the same run, on the shared cluster.
//   bare:   a fresh Node process spawns `true` M times (at least 200, so that a small quick run still
//           gives a steady rate), `clients` at a time, each to its exit (no murmur)
//   murmur: M trivial jobs (`true`) submitted by `clients` submitters at once (each sends its
//           next POST when the last one's 201 came), rotating over the agents; the run ends
//           when the last job's process exited (the latest `finishedAt` among them)
// Both figures are M divided by the time from the first spawn or POST to the last exit.
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { nowMs } from './clock.js'
import { sleep, type AgentProc } from './cluster.js'
import { EventWatch } from './events.js'
import { jobView, mapLimit, submitTimed, TRUE_JOB, type JobView } from './job-client.js'
import type { Measurement, RunResult } from './types.js'

/** After this long without news on the event stream, the remaining jobs are asked for directly. */
const QUIET_MS = 3_000
const CHECK_EVERY_MS = 200
const BARE_MIN = 200
const execFileAsync = promisify(execFile)

const BARE_SCRIPT = fileURLToPath(new URL('./bare-spawn.js', import.meta.url))

/** Node spawning `true`, in a fresh process of its own (bare-spawn.js says why not this one). */
export async function bareSpawnPerSec(count: number, concurrency: number): Promise<{ perSec: number; rssMb: number }> {
  const { stdout } = await execFileAsync(process.execPath, [BARE_SCRIPT, String(count), String(concurrency)], { timeout: 120_000 })
  return JSON.parse(stdout.trim()) as { perSec: number; rssMb: number }
}

/**
 * Waits until every id is terminal: from the event stream, or by asking when the stream is quiet.
 * A job the agent no longer has (404: collected after its retention) counts as ended, state `gone`.
 */
export async function waitAllEnded(watch: EventWatch, via: AgentProc, ids: readonly string[], limitMs: number): Promise<Map<string, string>> {
  const states = new Map<string, string>()
  const deadline = Date.now() + limitMs
  let lastProgress = Date.now()
  while (states.size < ids.length) {
    const before = states.size
    for (const id of ids) {
      if (states.has(id)) continue
      const e = watch.endedAt(id)
      if (e !== undefined) states.set(id, e.state)
    }
    if (states.size > before) lastProgress = Date.now()
    if (Date.now() - lastProgress > QUIET_MS) {
      const remaining = ids.filter((id) => !states.has(id)).slice(0, 50)
      const views = await mapLimit(remaining, 4, async (id) => ({ id, v: await jobView(via, id).catch(() => null) }))
      for (const { id, v } of views) {
        if (v === undefined) states.set(id, 'gone')
        else if (v !== null && ['succeeded', 'failed', 'cancelled'].includes(v.state)) states.set(id, v.state)
      }
      lastProgress = Date.now()
    }
    if (Date.now() > deadline) throw new Error(`${ids.length - states.size} of ${ids.length} jobs not finished within ${limitMs} ms`)
    await sleep(CHECK_EVERY_MS)
  }
  return states
}

export const throughput: Measurement = {
  name: 'throughput',
  runs: (o) => o.runs,
  async run(ctx): Promise<RunResult> {
    const agents = (await ctx.sharedCluster()).live()
    const { throughputJobs: m, throughputClients: clients } = ctx.options
    const bare = await bareSpawnPerSec(Math.max(m, BARE_MIN), clients)
    const watch = await EventWatch.open((agents[0] as AgentProc).api)
    try {
      const t0 = nowMs()
      const ids = (await mapLimit(Array.from({ length: m }), clients, (_, i) => submitTimed(agents[i % agents.length] as AgentProc, TRUE_JOB))).map((s) => s.id)
      const ackedMs = nowMs() - t0
      const states = await waitAllEnded(watch, agents[0] as AgentProc, ids, 60_000 + m * 500)
      // The records say when each process exited (the runner's clock, this machine's).
      const views = await mapLimit(ids, 8, (id) => jobView(agents[0] as AgentProc, id))
      const ends = views.flatMap((v: JobView | undefined) => (v?.allocations ?? []).map((a) => (a.finishedAt === null ? NaN : Date.parse(a.finishedAt))))
      const lastEnd = Math.max(...ends.filter(Number.isFinite))
      const failed = [...states.values()].filter((s) => s !== 'succeeded').length
      return {
        figures: { throughputJobsPerSec: m / ((lastEnd - t0) / 1000), bareSpawnPerSec: bare.perSec, acceptedJobsPerSec: m / (ackedMs / 1000) },
        details: { jobs: m, clients, failed, bareSpawnProcessRssMb: Math.round(bare.rssMb), benchProcessRssMb: Math.round(process.memoryUsage().rss / 2 ** 20) },
        notes: failed > 0 ? [`${failed} of ${m} throughput jobs did not succeed`] : [],
      }
    } finally {
      watch.close()
    }
  },
}
