// messagesPerJob: direct requests sent plus gossip messages published, summed over every agent of
// the shared cluster (GET /metrics), per single-instance trivial job. Jobs go one at a time, each
// in its own window: counters, submit, its end on the submitting node's event stream, a short
// pause for the replication that follows the end, counters again. The last window also waits
// out the effects that trail a job by up to a second (a node announces a change of its free
// capacity at most once a second), so the run's sum holds every message its jobs caused; an
// effect that trails into the next job's window is counted there, which moves it between jobs
// but not out of the run. The background each window would have seen anyway (probes, push-pull,
// the periodic job state exchange) is measured once on the idle cluster and subtracted, per
// type, at its rate times the window's length. Timer types run whatever the jobs do: membership
// (ping, ping-req, sync, sync-push) and the job state exchange (job-sync, every 5 s per pair of
// nodes that share jobs, however many); they are listed but not counted. Activity
// digests (gossip:activity) go out only because the bench watches every node's /v1/events: they
// are the event stream's cost, not the hot path's, and are counted in messagesPerJobWatched.
// The bench's own read of each job after its end (a job-fetch when the node asked does not store
// it) falls between two readings and is in no window.
// The figure is the mean over the run's jobs that were submitted to a node that neither stores
// nor runs them (the full path: forward, store on 3, offer, start, report), known afterwards from
// the job's `storedOn` and allocation. Which node that is cannot be known before the submit, so a
// run goes on past `messagesJobs` jobs (up to 3x) until a third of that many took this path; if
// still none did, the figure is the mean over all its jobs, noted.
import { nowMs } from './clock.js'
import { sleep, type AgentProc } from './cluster.js'
import { EventWatch } from './events.js'
import { jobView, submitTimed, TRUE_JOB } from './job-client.js'
import { diff, scrape, type Counts } from './prom-counters.js'
import type { Measurement, RunResult } from './types.js'

export const TIMER_TYPES = new Set(['rpc:ping', 'rpc:ping-req', 'rpc:sync', 'rpc:sync-push', 'rpc:job-sync'])
/** Published only while someone watches /v1/events (here: the bench, on every node). */
export const EVENT_STREAM_TYPES = new Set(['gossip:activity'])
/** After each job's end: its record's replication to the storing nodes (direct requests, milliseconds). */
const PAUSE_MS = 200
/** After the run's last job: one capacity announcement interval (1 s) and the 50 ms gossip batching, with margin. */
const SETTLE_MS = 1_300
/** The background rate per type per ms, measured once per bench on the idle shared cluster. */
let background: { counts: Counts; ms: number } | undefined
const DONE_LIMIT_MS = 60_000

interface JobWindow { counts: Counts; outsider: boolean }

function addInto(sum: Map<string, number>, counts: Counts): void {
  for (const [k, v] of counts) sum.set(k, (sum.get(k) ?? 0) + v)
}

export const messages: Measurement = {
  name: 'messages',
  runs: (o) => o.runs,
  async run(ctx, index): Promise<RunResult> {
    const agents = (await ctx.sharedCluster()).live()
    const watches = new Map<string, EventWatch>()
    try {
      for (const a of agents) watches.set(a.name, await EventWatch.open(a.api))
      if (background === undefined) {
        const b0 = await scrape(agents)
        const tb0 = nowMs()
        await sleep(ctx.options.backgroundMs)
        background = { counts: diff(await scrape(agents), b0), ms: nowMs() - tb0 }
      }
      const bg = background

      const windows: JobWindow[] = []
      const want = ctx.options.messagesJobs
      // Every job is stored on min(3, live) nodes: with 3 agents or fewer, every node stores every job.
      const wantOutsiders = agents.length > 3 ? Math.ceil(want / 3) : 0
      const enough = (): boolean => windows.length >= want && windows.filter((w) => w.outsider).length >= wantOutsiders
      const net = (raw: Counts, ms: number): Counts => {
        const counts: Counts = new Map()
        for (const [k, v] of raw) counts.set(k, v - ((bg.counts.get(k) ?? 0) / bg.ms) * ms)
        return counts
      }
      let before = await scrape(agents)
      let t0 = nowMs()
      for (let i = 0; !enough() && i < 3 * want; i++) {
        const via = agents[i % agents.length] as AgentProc
        const w = watches.get(via.name) as EventWatch
        const s = await submitTimed(via, TRUE_JOB)
        const done = await w.waitUntil(() => w.endedAt(s.id)?.at, async () => {
          const v = await jobView(via, s.id)
          return v !== undefined && ['succeeded', 'failed', 'cancelled'].includes(v.state) ? nowMs() : undefined
        }, DONE_LIMIT_MS)
        if (done === null) throw new Error(`job ${s.id} did not finish within ${DONE_LIMIT_MS} ms`)
        await sleep(PAUSE_MS)
        const after = await scrape(agents)
        const t1 = nowMs()
        const view = await jobView(via, s.id)
        const runner = view?.allocations[0]?.nodeName
        const outsider = view !== undefined && !(view.storedOn ?? []).includes(via.name) && runner !== via.name
        windows.push({ counts: net(diff(after, before), t1 - t0), outsider })
        // The next window starts after the bench's read, which is not the job's doing.
        before = await scrape(agents)
        t0 = nowMs()
      }
      // What trails the last job (its runner's capacity announcement) belongs to it.
      await sleep(SETTLE_MS)
      const last = windows[windows.length - 1] as JobWindow
      addInto(last.counts, net(diff(await scrape(agents), before), nowMs() - t0))
      const chosen = windows.some((w) => w.outsider) ? windows.filter((w) => w.outsider) : windows
      const perType = new Map<string, number>()
      for (const w of chosen) addInto(perType, w.counts)
      const figures: RunResult['figures'] = {}
      let total = 0
      let watched = 0
      for (const [k, v] of [...perType].sort()) {
        const mean = v / chosen.length
        figures[`messagesByType.${k}`] = mean
        if (TIMER_TYPES.has(k)) continue
        watched += mean
        if (!EVENT_STREAM_TYPES.has(k)) total += mean
      }
      const hotPath = ([k]: [string, number]): boolean => !TIMER_TYPES.has(k) && !EVENT_STREAM_TYPES.has(k)
      const allTotal = windows.reduce((s, w) => s + [...w.counts].filter(hotPath).reduce((t, [, v]) => t + v, 0), 0) / windows.length
      const bgPerSec: Record<string, number> = {}
      for (const [k, v] of [...bg.counts].sort()) if (v !== 0) bgPerSec[k] = v / (bg.ms / 1000)
      return {
        figures: { ...figures, messagesPerJob: total, messagesPerJobWatched: watched, messagesPerJobAllRoutes: allTotal },
        details: { jobs: windows.length, outsiderJobs: windows.filter((w) => w.outsider).length, backgroundPerSec: bgPerSec },
        notes: chosen === windows ? [`messages run ${index + 1}: no job was submitted to a node that neither stored nor ran it; its messagesPerJob is over all its jobs`] : [],
      }
    } finally {
      for (const w of watches.values()) w.close()
    }
  },
  async finish() {
    background = undefined
  },
}
