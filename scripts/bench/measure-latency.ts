// submitToStartMs, ackToStartMs, submitToDoneMs (one client, one job at a time) and
// submitToStartLoadedMs (8 clients, each one job at a time), on the shared cluster. Clients
// rotate over the agents as users at different nodes would. A client submits its next job only
// once the node it submitted to reports the last one finished (on its event stream), so the
// cluster never holds more than `clients` of these jobs.
//   submit->start: POST sent -> the job's process began (the stamp it printed, job-client.ts)
//   ack->start:    201 received -> the process began (negative when it began before the 201 came)
//   submit->done:  POST sent -> the submitting node's event stream reported the job succeeded
import type { AgentProc } from './cluster.js'
import { EventWatch } from './events.js'
import { nowMs } from './clock.js'
import { jobView, mapLimit, startStamp, STAMP_JOB, submitTimed, type Submitted } from './job-client.js'
import { p50p99 } from './stats.js'
import type { Measurement, RunResult } from './types.js'

/** A job that has not finished this long after its submit fails the run. */
const DONE_LIMIT_MS = 60_000

interface Timed extends Submitted { doneAt: number; state: string }

async function closedLoop(agents: readonly AgentProc[], clients: number, jobs: number): Promise<{ timed: Timed[]; answered: { events: number; polls: number } }> {
  const watches = new Map<string, EventWatch>()
  try {
    for (const a of agents) watches.set(a.name, await EventWatch.open(a.api))
    const timed: Timed[] = []
    let next = 0
    await Promise.all(Array.from({ length: clients }, async () => {
      while (next < jobs) {
        const i = next++
        const via = agents[i % agents.length] as AgentProc
        const w = watches.get(via.name) as EventWatch
        const s = await submitTimed(via, STAMP_JOB)
        let state = ''
        const doneAt = await w.waitUntil(() => {
          const e = w.endedAt(s.id)
          if (e !== undefined) state = e.state
          return e?.at
        }, async () => {
          const v = await jobView(via, s.id)
          if (v === undefined || !['succeeded', 'failed', 'cancelled'].includes(v.state)) return undefined
          state = v.state
          return nowMs()
        }, DONE_LIMIT_MS)
        if (doneAt === null) throw new Error(`job ${s.id} (via ${via.name}) did not finish within ${DONE_LIMIT_MS} ms`)
        timed.push({ ...s, doneAt, state })
      }
    }))
    const answered = { events: 0, polls: 0 }
    for (const w of watches.values()) { answered.events += w.answered.events; answered.polls += w.answered.polls }
    return { timed, answered }
  } finally {
    for (const w of watches.values()) w.close()
  }
}

/** Reads every job's start stamp and record, after the timed part (4 at a time). */
async function analyse(timed: Timed[]): Promise<{ submitToStart: number[]; ackToStart: number[]; submitToDone: number[]; recordLead: number[]; failed: number }> {
  const ok = timed.filter((t) => t.state === 'succeeded')
  const read = await mapLimit(ok, 4, async (t) => {
    const [stamp, view] = await Promise.all([startStamp(t.via, t.id), jobView(t.via, t.id)])
    const startedAt = view?.allocations[0]?.startedAt
    return { t, stamp, recordStart: startedAt == null ? NaN : Date.parse(startedAt) }
  })
  return {
    submitToStart: read.map((r) => r.stamp - r.t.sentAt),
    ackToStart: read.map((r) => r.stamp - r.t.ackedAt),
    submitToDone: read.map((r) => r.t.doneAt - r.t.sentAt),
    // How much earlier the record says the run started than its process really did.
    recordLead: read.map((r) => r.stamp - r.recordStart).filter(Number.isFinite),
    failed: timed.length - ok.length,
  }
}

function notesFor(failed: number, polls: number): string[] {
  const notes: string[] = []
  if (failed > 0) notes.push(`${failed} latency job(s) did not succeed; left out of the figures`)
  if (polls > 0) notes.push(`${polls} job end(s) were seen by the fallback poll, not the event stream (done times are late by up to 0.5 s there)`)
  return notes
}

export const latency: Measurement = {
  name: 'latency',
  runs: (o) => o.runs,
  async run(ctx): Promise<RunResult> {
    const agents = (await ctx.sharedCluster()).live()
    const { timed, answered } = await closedLoop(agents, 1, ctx.options.latencyJobs)
    const a = await analyse(timed)
    const start = p50p99(a.submitToStart)
    const ack = p50p99(a.ackToStart)
    const done = p50p99(a.submitToDone)
    return {
      figures: {
        'submitToStartMs.p50': start.p50, 'submitToStartMs.p99': start.p99,
        'ackToStartMs.p50': ack.p50, 'ackToStartMs.p99': ack.p99,
        'submitToDoneMs.p50': done.p50, 'submitToDoneMs.p99': done.p99,
      },
      details: { jobs: timed.length, failed: a.failed, recordStartedAtLeadMsP50: p50p99(a.recordLead).p50, answered },
      notes: notesFor(a.failed, answered.polls),
    }
  },
}

export const loaded: Measurement = {
  name: 'loaded',
  runs: (o) => o.runs,
  async run(ctx): Promise<RunResult> {
    const agents = (await ctx.sharedCluster()).live()
    const { timed, answered } = await closedLoop(agents, ctx.options.loadedClients, ctx.options.loadedJobs)
    const a = await analyse(timed)
    const start = p50p99(a.submitToStart)
    const done = p50p99(a.submitToDone)
    return {
      figures: {
        'submitToStartLoadedMs.p50': start.p50, 'submitToStartLoadedMs.p99': start.p99,
        'submitToDoneLoadedMs.p50': done.p50, 'submitToDoneLoadedMs.p99': done.p99,
      },
      details: { jobs: timed.length, clients: ctx.options.loadedClients, failed: a.failed, answered },
      notes: notesFor(a.failed, answered.polls),
    }
  },
}
