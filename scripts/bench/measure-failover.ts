// failoverMs and detectMs on a cluster of its own (`agents` agents running `services` services,
// `sleep 3600` each). Each round: let it settle, pick an observer (in turn), SIGKILL the node
// running the most services other than the observer, then time
//   detectMs:   SIGKILL -> every other agent's event stream said that node is dead
//   failoverMs: SIGKILL -> the observer's stream said every service that ran there runs elsewhere
// then restart the node on its data dir and wait until the observer sees every agent alive again.
// In full mode the same rounds are made with SIGSTOP (failoverStopMs), continuing the node after.
// Both waits also poll the API every 250 ms, so a missed event is late, never a hang.
import { nowMs } from './clock.js'
import { aliveSeenBy, BenchCluster, pollUntil, sleep, type AgentProc } from './cluster.js'
import { EventWatch } from './events.js'
import { mapLimit, submitTimed, type JobView } from './job-client.js'
import { p50p99 } from './stats.js'
import type { Measurement, RunResult } from './types.js'

const SERVICE = { type: 'service', command: ['sleep', '3600'], resources: { cpu: 0.1, memoryMb: 16 } }
/** Between rounds: the restart's own churn (syncs on new connections, re-placements) passes. */
const STEADY_MS = 3_000
const ROUND_LIMIT_MS = 30_000
const POLL_MS = 250

let cluster: BenchCluster | undefined
let ids: string[] = []
/** Rounds made so far, over all runs: the observer changes every round. */
let rounds = 0
const watches = new Map<string, EventWatch>()

async function watch(a: AgentProc): Promise<EventWatch> {
  watches.get(a.name)?.close()
  const w = await EventWatch.open(a.api)
  watches.set(a.name, w)
  return w
}

async function services(via: AgentProc): Promise<JobView[]> {
  const res = await fetch(`${via.api}/v1/jobs`, { signal: AbortSignal.timeout(5_000) })
  if (!res.ok) throw new Error(`${via.name} /v1/jobs answered ${res.status}`)
  const wanted = new Set(ids)
  return ((await res.json()) as { jobs: JobView[] }).jobs.filter((j) => wanted.has(j.id))
}

const runningOn = (j: JobView): string[] => j.allocations.filter((a) => a.state === 'running').map((a) => a.nodeName)

async function setUp(ctx: Parameters<Measurement['run']>[0]): Promise<BenchCluster> {
  const c = new BenchCluster()
  const n = ctx.options.agents
  try {
    const { agents } = await c.launch(n, 'f')
    if (await c.waitAllSee(agents, n, 120_000) === null) throw new Error(`failover cluster: ${n} agents did not all see ${n} alive within 120 s`)
    for (const a of agents) await watch(a)
    ids = (await mapLimit(Array.from({ length: ctx.options.services }), 4, (_, i) => submitTimed(agents[i % n] as AgentProc, SERVICE))).map((s) => s.id)
    const first = agents[0] as AgentProc
    if (await pollUntil(async () => ((await services(first)).every((j) => runningOn(j).length === 1) ? true : undefined), 60_000, 200) === null) {
      throw new Error(`${ctx.options.services} services not all running within 60 s`)
    }
  } catch (err) {
    // The next run starts again from scratch.
    for (const w of watches.values()) w.close()
    watches.clear()
    await c.stop()
    throw err
  }
  cluster = c
  return c
}

interface Victim { node: AgentProc; observer: AgentProc; others: AgentProc[]; affected: string[] }

/** The node running the most services, other than this round's observer (agents take turns). */
async function pickVictim(c: BenchCluster): Promise<Victim> {
  const live = c.live()
  const observer = live[rounds++ % live.length] as AgentProc
  const before = await services(observer)
  const counts = new Map<string, number>()
  for (const j of before) for (const n of runningOn(j)) counts.set(n, (counts.get(n) ?? 0) + 1)
  const name = [...counts].filter(([n]) => n !== observer.name).sort((a, b) => b[1] - a[1])[0]?.[0]
  if (name === undefined) throw new Error('no node other than the observer runs a service')
  const node = c.fleet.get(name)
  return { node, observer, others: live.filter((a) => a !== node), affected: before.filter((j) => runningOn(j).includes(name)).map((j) => j.id) }
}

/** Signals the victim and times detection (SIGKILL only) and the move of its services. */
async function timeFailure(v: Victim, signal: 'SIGKILL' | 'SIGSTOP'): Promise<{ detect: number | null; failover: number }> {
  const name = v.node.name
  const ow = watches.get(v.observer.name) as EventWatch
  const t0 = nowMs()
  v.node.child.kill(signal)
  const detected = signal === 'SIGKILL'
    ? Promise.all(v.others.map(async (o) => {
      const w = watches.get(o.name) as EventWatch
      return w.waitUntil(() => w.nodeStateAt(name, 'dead', t0), async () => {
        const res = await fetch(`${o.api}/v1/nodes`, { signal: AbortSignal.timeout(3_000) })
        const rows = (await res.json()) as { nodes: Array<{ name: string; state: string }> }
        return rows.nodes.find((n) => n.name === name)?.state === 'dead' ? nowMs() : undefined
      }, ROUND_LIMIT_MS, POLL_MS)
    }))
    : Promise.resolve([])
  const movedAt = await ow.waitUntil(() => {
    const ats = v.affected.map((id) => ow.runningElsewhereAt(id, name, t0))
    return ats.every((a) => a !== undefined) ? Math.max(...(ats as number[])) : undefined
  }, async () => {
    const now = await services(v.observer)
    return v.affected.every((id) => runningOn(now.find((j) => j.id === id) as JobView).some((n) => n !== name)) ? nowMs() : undefined
  }, ROUND_LIMIT_MS, POLL_MS)
  const seen = await detected
  if (movedAt === null) throw new Error(`${signal} of ${name}: its ${v.affected.length} services not running elsewhere within ${ROUND_LIMIT_MS} ms`)
  if (seen.some((s) => s === null)) throw new Error(`SIGKILL of ${name}: not seen dead by every other agent within ${ROUND_LIMIT_MS} ms`)
  return { detect: seen.length === 0 ? null : Math.max(...(seen as number[])) - t0, failover: movedAt - t0 }
}

/** Restarts (SIGKILL) or continues (SIGSTOP) the victim; resolves once the observer sees all alive. */
async function bringBack(c: BenchCluster, v: Victim, signal: 'SIGKILL' | 'SIGSTOP'): Promise<void> {
  if (signal === 'SIGKILL') {
    await v.node.exited
    await watch(await c.startOne(v.node.name, ['--join', v.observer.p2p], v.node.dataDir))
  } else {
    v.node.child.kill('SIGCONT')
  }
  const n = v.others.length + 1
  if (await pollUntil(async () => ((await aliveSeenBy(v.observer)) === n ? true : undefined), 60_000, 200) === null) {
    throw new Error(`${v.node.name} not seen alive again within 60 s`)
  }
}

/** One round; the node is brought back even when the round failed, so the next has the whole cluster. */
async function round(c: BenchCluster, signal: 'SIGKILL' | 'SIGSTOP'): Promise<{ detect: number | null; failover: number }> {
  await sleep(STEADY_MS)
  const v = await pickVictim(c)
  const timed = await timeFailure(v, signal).catch((err: unknown) => err as Error)
  await bringBack(c, v, signal)
  if (timed instanceof Error) throw timed
  return timed
}

export const failover: Measurement = {
  name: 'failover',
  runs: (o) => o.runs,
  async run(ctx): Promise<RunResult> {
    const c = cluster ?? await setUp(ctx)
    for (const w of watches.values()) { w.answered.events = 0; w.answered.polls = 0 }
    const detect: number[] = []
    const moved: number[] = []
    const stopped: number[] = []
    for (let r = 0; r < ctx.options.failoverRounds; r++) {
      const k = await round(c, 'SIGKILL')
      moved.push(k.failover)
      if (k.detect !== null) detect.push(k.detect)
    }
    if (ctx.options.failoverStop) {
      for (let r = 0; r < ctx.options.failoverRounds; r++) stopped.push((await round(c, 'SIGSTOP')).failover)
    }
    const f = p50p99(moved)
    const d = p50p99(detect)
    const s = p50p99(stopped)
    let answered = { events: 0, polls: 0 }
    for (const w of watches.values()) answered = { events: answered.events + w.answered.events, polls: answered.polls + w.answered.polls }
    return {
      figures: {
        'failoverMs.p50': f.p50, 'failoverMs.p99': f.p99, 'detectMs.p50': d.p50, 'detectMs.p99': d.p99,
        'failoverStopMs.p50': s.p50, 'failoverStopMs.p99': s.p99,
      },
      details: { rounds: moved.length, services: ids.length, failoverMs: moved, detectMs: detect, failoverStopMs: stopped, answered },
      notes: answered.polls > 0 ? [`failover: ${answered.polls} wait(s) were answered by the 250 ms poll, not the event stream`] : [],
    }
  },
  async finish() {
    for (const w of watches.values()) w.close()
    watches.clear()
    const c = cluster
    cluster = undefined
    ids = []
    rounds = 0
    await c?.stop()
  },
}
