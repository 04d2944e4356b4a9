// `npm run bench`: measures what the issues set goals for, on real agents in separate processes.
//   join:   N agents started at once (all --join the first) -> every agent sees N alive
//   detect: SIGKILL one agent -> every other agent sees it dead
//   jobs:   submit-to-start latency (p50/p99) and throughput for a trivial job on 5 agents
//   resched: 5 agents running services; SIGKILL (or SIGSTOP) the node running some -> every one of
//           them running elsewhere (polled every 20 ms); the node is restarted (or continued) each round
// Usage: npm run bench -- [--sizes 3,10,30] [--kills 5] [--jobs 200] [--clients 4] [--rounds 10] [--only join|jobs|resched]
// Everything listens on 127.0.0.1 and is stopped (SIGKILL) before the script exits.
import '../src/node/polyfill.js'
import { parseArgs } from 'node:util'
import { AgentFleet, getJson, nodesSeenBy, waitFor, type AgentProc } from '../test/support/agents.js'

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '3,10,30' },
    kills: { type: 'string', default: '5' },
    jobs: { type: 'string', default: '200' },
    clients: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '10' },
    only: { type: 'string' },
  },
})

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN
}

async function startCluster(fleet: AgentFleet, n: number, prefix: string): Promise<{ agents: AgentProc[]; readyMs: number; convergedMs: number }> {
  const t0 = Date.now()
  const first = await fleet.start(`${prefix}1`, [], { timeoutMs: 120_000 })
  const rest = await Promise.all(Array.from({ length: n - 1 }, (_, i) => fleet.start(`${prefix}${i + 2}`, ['--join', first.p2p], { timeoutMs: 120_000 })))
  const agents = [first, ...rest]
  const readyMs = Date.now() - t0
  const t1 = Date.now()
  await waitFor(`${n} agents to see ${n} alive`, async () => {
    const views = await Promise.all(agents.map(nodesSeenBy))
    return views.every((v) => v.filter((x) => x.state === 'alive').length === n) ? true : undefined
  }, 300_000, 500)
  return { agents, readyMs, convergedMs: Date.now() - t1 }
}

async function detect(fleet: AgentFleet, agents: AgentProc[], kills: number): Promise<number[]> {
  const times: number[] = []
  for (let k = 0; k < kills && agents.length > 2; k++) {
    const victim = agents[agents.length - 1 - k] as AgentProc
    const observers = agents.filter((a) => a !== victim && a.child.exitCode === null && a.child.signalCode === null)
    const t0 = Date.now()
    victim.child.kill('SIGKILL')
    await waitFor(`${victim.name} dead everywhere`, async () => {
      const states = await Promise.all(observers.map(async (o) => (await nodesSeenBy(o)).find((n) => n.name === victim.name)?.state))
      return states.every((s) => s === 'dead') ? true : undefined
    }, 30_000, 20)
    times.push(Date.now() - t0)
  }
  return times
}

async function benchJoin(): Promise<void> {
  for (const n of (values.sizes ?? '').split(',').map(Number).filter((x) => x > 1)) {
    const fleet = new AgentFleet()
    try {
      const { agents, readyMs, convergedMs } = await startCluster(fleet, n, `b${n}-`)
      // Detection is measured at steady state: give the start-up load (N processes loading on
      // two cores) time to pass, as it would on real machines.
      await new Promise((r) => setTimeout(r, 5_000))
      const kills = await detect(fleet, agents, Math.min(Number(values.kills), n - 2))
      console.log(`join n=${n}: all ready ${readyMs} ms, then all see ${n} alive after ${convergedMs} ms; ` +
        `SIGKILL -> dead everywhere: ${kills.map((k) => `${k}`).join(', ')} ms (p50 ${pct(kills, 50)}, max ${Math.max(...kills)})`)
    } finally {
      await fleet.cleanup()
    }
  }
}

async function benchJobs(): Promise<void> {
  const fleet = new AgentFleet()
  try {
    const { agents } = await startCluster(fleet, 5, 'j')
    const total = Number(values.jobs)
    const submitted = new Map<string, number>()
    const t0 = Date.now()
    // Submit from concurrent clients spread over the agents, like users at different nodes.
    let next = 0
    await Promise.all(Array.from({ length: Number(values.clients) }, async () => {
      while (next < total) {
        const i = next++
        const via = agents[i % agents.length] as AgentProc
        const at = Date.now()
        const res = await fetch(`${via.api}/v1/jobs`, {
          method: 'POST', headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ command: ['true'], resources: { cpu: 0.1, memoryMb: 16 } }),
        })
        if (res.status !== 201) throw new Error(`submit ${i}: ${res.status} ${await res.text()}`)
        submitted.set(((await res.json()) as { id: string }).id, at)
      }
    }))
    const submitMs = Date.now() - t0
    type Job = { id: string; state: string; allocations: Array<{ startedAt: string | null; state: string }> }
    const done = await waitFor('all jobs to finish', async () => {
      const jobs = (await getJson<{ jobs: Job[] }>(`${agents[0]!.api}/v1/jobs`)).jobs
      return jobs.length >= total && jobs.every((j) => j.state === 'succeeded' || j.state === 'failed') ? jobs : undefined
    }, 300_000, 250)
    const allMs = Date.now() - t0
    const lat = done.map((j) => Date.parse(j.allocations[0]?.startedAt ?? '') - (submitted.get(j.id) ?? NaN)).filter(Number.isFinite)
    const runs = done.map((j) => j.allocations.length)
    console.log(`jobs: ${total} trivial jobs on 5 agents, ${values.clients} clients: submitted in ${submitMs} ms (${(total / (submitMs / 1000)).toFixed(1)}/s acked), ` +
      `all done in ${allMs} ms (${(total / (allMs / 1000)).toFixed(1)} jobs/s); submit->start p50 ${pct(lat, 50)} ms, p99 ${pct(lat, 99)} ms; ` +
      `failed ${done.filter((j) => j.state !== 'succeeded').length}; instances with more than one run ${runs.filter((r) => r > 1).length}`)
  } finally {
    await fleet.cleanup()
  }
}

async function benchResched(): Promise<void> {
  const fleet = new AgentFleet()
  try {
    const { agents } = await startCluster(fleet, 5, 'r')
    type Job = { id: string; allocations: Array<{ nodeName: string; state: string }> }
    const ids: string[] = []
    for (let i = 0; i < 10; i++) {
      const res = await fetch(`${agents[0]!.api}/v1/jobs`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'service', command: ['sleep', '3600'], resources: { cpu: 0.1, memoryMb: 16 } }),
      })
      ids.push(((await res.json()) as { id: string }).id)
    }
    const runningOn = (j: Job): string[] => j.allocations.filter((a) => a.state === 'running').map((a) => a.nodeName)
    const current = async (via: AgentProc): Promise<Job[]> => (await getJson<{ jobs: Job[] }>(`${via.api}/v1/jobs`)).jobs.filter((j) => ids.includes(j.id))
    await waitFor('10 services running', async () => (await current(agents[0]!)).every((j) => runningOn(j).length === 1) ? true : undefined, 30_000)
    for (const signal of ['SIGKILL', 'SIGSTOP'] as const) {
      const times: number[] = []
      for (let round = 0; round < Number(values.rounds); round++) {
        await new Promise((r) => setTimeout(r, 3_000)) // steady state between rounds
        const live = [...fleet.agents.values()].filter((a) => a.child.exitCode === null && a.child.signalCode === null)
        const observer = live[round % live.length] as AgentProc
        const before = await current(observer)
        // The node running the most services, other than the observer.
        const counts = new Map<string, number>()
        for (const j of before) for (const n of runningOn(j)) counts.set(n, (counts.get(n) ?? 0) + 1)
        const victimName = [...counts].filter(([n]) => n !== observer.name).sort((a, b) => b[1] - a[1])[0]?.[0]
        if (victimName === undefined) continue
        const victim = fleet.get(victimName)
        const affected = before.filter((j) => runningOn(j).includes(victimName)).map((j) => j.id)
        const t0 = Date.now()
        victim.child.kill(signal)
        await waitFor('affected services running elsewhere', async () => {
          const now = await current(observer)
          return affected.every((id) => runningOn(now.find((j) => j.id === id) as Job).some((n) => n !== victimName)) ? true : undefined
        }, 30_000, 20)
        times.push(Date.now() - t0)
        if (signal === 'SIGKILL') {
          await victim.exited
          await fleet.start(victimName, ['--join', observer.p2p], { dataDir: victim.dataDir, timeoutMs: 60_000 })
        } else {
          victim.child.kill('SIGCONT')
        }
        await waitFor('5 alive again', async () => (await nodesSeenBy(observer)).filter((n) => n.state === 'alive').length === 5 ? true : undefined, 60_000)
      }
      console.log(`resched ${signal}: ${times.length} rounds, node -> all its services running elsewhere: ${times.join(', ')} ms ` +
        `(p50 ${pct(times, 50)}, p99 ${pct(times, 99)})`)
    }
  } finally {
    await fleet.cleanup()
  }
}

if (values.only === undefined || values.only === 'join') await benchJoin()
if (values.only === undefined || values.only === 'jobs') await benchJobs()
if (values.only === undefined || values.only === 'resched') await benchResched()
