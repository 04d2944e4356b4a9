// `npx tsx scripts/sim-validate.ts [--nodes 20] [--idle 60] [--load 60] [--rate 2]`: holds the
// simulator's network model against real agents. It starts N real agents (separate processes on
// 127.0.0.1, the test profile), measures an idle window and a window of job submissions, then runs
// the same scenario in the simulator and prints both side by side:
// - bytes per node per second, sent and received: on the real side the kernel's per-socket
//   counters (`ss -tinp`: tcp_info bytes_sent / bytes_received, i.e. everything above TCP: noise,
//   yamux, multistream, gossipsub, rpc) over every socket of the agent's process except its HTTP
//   API port; in the simulator, the modelled bytes of the same layers;
// - delivery delay: for each job, the time from the submit's 201 to the first event about the job
//   on every other node (from the agents' own log timestamps, so no HTTP hop is in it), and the
//   spread of those times within one job (which takes out the tick wait common to all nodes).
// Heavy: N agents on this machine. Run it once or twice, never in tests.
import '../src/node/polyfill.js'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { TEST } from '../src/core/config.js'
import { Rng } from '../src/core/rng.js'
import { percentile } from '../src/sim/histogram.js'
import { peerIdLike, SimCluster, simSpec } from '../src/sim/sim-cluster.js'
import { AgentFleet, nodesSeenBy, waitFor, type AgentProc } from '../test/support/agents.js'

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '20' },
    idle: { type: 'string', default: '60' },
    load: { type: 'string', default: '60' },
    rate: { type: 'string', default: '2' },
    settle: { type: 'string', default: '20' },
    'sim-only': { type: 'boolean', default: false },
  },
})
const N = Number(values.nodes)
const IDLE_S = Number(values.idle)
const LOAD_S = Number(values.load)
const RATE = Number(values.rate)
const SETTLE_S = Number(values.settle)
const JOB = { cpu: 0.1, memoryMb: 16, durationMs: 1_000 }
const NODE = { cpu: 4, memoryMb: 8192 }

interface Measure {
  idleSent: number[]
  idleRecv: number[]
  loadSent: number[]
  loadRecv: number[]
  /** 201 -> first event about the job on each other node that had not seen it before the 201. */
  ackToSeen: number[]
  /** Within one job: each node's first sight minus the earliest such sight. */
  spread: number[]
  jobs: number
  /** Real side only: cores used by all agents together, idle and under load. */
  cores?: { idle: number; load: number }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/**
 * Submit times: a seeded Poisson stream, the same on both sides. Evenly spaced submits would
 * land at a fixed phase of each node's 100 ms tick (gossip waits for it), and a handful of
 * phases would then decide the delay percentiles.
 */
function arrivals(): number[] {
  const rng = new Rng(7)
  const out: number[] = []
  for (let t = -Math.log(1 - rng.next()) * 1000 / RATE; t < LOAD_S * 1000; t += -Math.log(1 - rng.next()) * 1000 / RATE) out.push(t)
  return out
}

// --- the real side ------------------------------------------------------------------------------------

/** Per-socket byte counters of the given processes, keyed by socket, excluding the API ports. */
function socketBytes(pids: Map<number, { name: string; apiPort: number }>): Map<string, { name: string; sent: number; recv: number }> {
  const out = new Map<string, { name: string; sent: number; recv: number }>()
  const text = execFileSync('ss', ['-tinpH', 'state', 'established'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
  let current: { key: string; name: string } | undefined
  for (const line of text.split('\n')) {
    if (line.length === 0) continue
    if (!/^\s/.test(line)) {
      current = undefined
      const pid = /pid=(\d+)/.exec(line)
      const owner = pid === null ? undefined : pids.get(Number(pid[1]))
      const cols = line.trim().split(/\s+/)
      // Recv-Q Send-Q Local Peer users:(...)
      const local = cols[2] ?? ''
      if (owner === undefined || local.endsWith(`:${owner.apiPort}`)) continue
      current = { key: `${pid?.[1]}|${local}|${cols[3]}`, name: owner.name }
      continue
    }
    if (current === undefined) continue
    const sent = /bytes_sent:(\d+)/.exec(line)
    const recv = /bytes_received:(\d+)/.exec(line)
    out.set(current.key, { name: current.name, sent: Number(sent?.[1] ?? 0), recv: Number(recv?.[1] ?? 0) })
    current = undefined
  }
  return out
}

/** CPU seconds (user + system) the processes used so far (/proc/<pid>/stat, clock ticks of 10 ms). */
function cpuSeconds(pids: number[]): number {
  let ticks = 0
  for (const pid of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
      ticks += Number(fields[11]) + Number(fields[12])
    } catch { /* exited */ }
  }
  return ticks / 100
}

function rates(a: ReturnType<typeof socketBytes>, b: ReturnType<typeof socketBytes>, names: string[], secs: number): { sent: number[]; recv: number[]; closed: number } {
  const sent = new Map(names.map((n) => [n, 0]))
  const recv = new Map(names.map((n) => [n, 0]))
  let closed = 0
  for (const [k, v] of b) {
    const before = a.get(k)
    sent.set(v.name, (sent.get(v.name) ?? 0) + v.sent - (before?.sent ?? 0))
    recv.set(v.name, (recv.get(v.name) ?? 0) + v.recv - (before?.recv ?? 0))
  }
  for (const k of a.keys()) if (!b.has(k)) closed++
  return { sent: names.map((n) => (sent.get(n) ?? 0) / secs), recv: names.map((n) => (recv.get(n) ?? 0) / secs), closed }
}

async function real(): Promise<Measure> {
  const fleet = new AgentFleet()
  try {
    const extra = ['--cpu', String(NODE.cpu), '--mem', String(NODE.memoryMb)]
    const t0 = Date.now()
    const first = await fleet.start('v1', extra, { timeoutMs: 180_000 })
    const rest: AgentProc[] = []
    // A few at a time: 19 libp2p start-ups at once on two cores time out.
    for (let i = 2; i <= N; i += 4) {
      const batch = Array.from({ length: Math.min(4, N - i + 1) }, (_, k) => fleet.start(`v${i + k}`, [...extra, '--join', first.p2p], { timeoutMs: 180_000 }))
      rest.push(...await Promise.all(batch))
    }
    const agents = [first, ...rest]
    console.error(`real: ${N} agents ready after ${((Date.now() - t0) / 1000).toFixed(1)} s`)
    await waitFor(`${N} agents to see ${N} alive`, async () => {
      const views = await Promise.all(agents.map(nodesSeenBy))
      return views.every((v) => v.filter((x) => x.state === 'alive').length === N) ? true : undefined
    }, 600_000, 1_000)
    console.error(`real: converged after ${((Date.now() - t0) / 1000).toFixed(1)} s; settling ${SETTLE_S} s`)
    // First sight of each job on each agent, from its own log lines (pino's epoch-ms `time`).
    const seen = new Map<string, Map<string, number>>()
    for (const a of agents) {
      const mine = new Map<string, number>()
      seen.set(a.name, mine)
      let buf = ''
      a.child.stderr?.on('data', (chunk: Buffer) => {
        buf += chunk.toString('utf8')
        let nl = buf.indexOf('\n')
        while (nl >= 0) {
          const line = buf.slice(0, nl)
          buf = buf.slice(nl + 1)
          nl = buf.indexOf('\n')
          if (!line.includes('"type":"job"')) continue
          try {
            const rec = JSON.parse(line) as { time: number; event?: { type: string; job: string } }
            if (rec.event?.type === 'job' && !mine.has(rec.event.job)) mine.set(rec.event.job, rec.time)
          } catch { /* not a log line */ }
        }
      })
    }
    await sleep(SETTLE_S * 1000)
    const pids = new Map(agents.map((a) => [a.child.pid as number, { name: a.name, apiPort: Number(new URL(a.api).port) }]))
    const names = agents.map((a) => a.name)
    const pidList = [...pids.keys()]
    const c0 = cpuSeconds(pidList)
    const i0 = socketBytes(pids)
    await sleep(IDLE_S * 1000)
    const i1 = socketBytes(pids)
    const c1 = cpuSeconds(pidList)
    const idle = rates(i0, i1, names, IDLE_S)
    console.error(`real: idle window done (${idle.closed} sockets closed in it)`)
    const acks = new Map<string, { at: number; via: string }>()
    const l0 = socketBytes(pids)
    const start = Date.now()
    const inflight: Array<Promise<void>> = []
    for (const [k, at] of arrivals().entries()) {
      if (Date.now() < start + at) await sleep(start + at - Date.now())
      const via = agents[k % agents.length] as AgentProc
      inflight.push((async () => {
        const res = await fetch(`${via.api}/v1/jobs`, {
          method: 'POST', headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ command: ['sleep', String(JOB.durationMs / 1000)], resources: { cpu: JOB.cpu, memoryMb: JOB.memoryMb } }),
        })
        const at = Date.now()
        if (res.status === 201) acks.set(((await res.json()) as { id: string }).id, { at, via: via.name })
      })())
    }
    if (Date.now() < start + LOAD_S * 1000) await sleep(start + LOAD_S * 1000 - Date.now())
    await Promise.all(inflight)
    const loadSecs = (Date.now() - start) / 1000
    const l1 = socketBytes(pids)
    const c2 = cpuSeconds(pidList)
    const load = rates(l0, l1, names, loadSecs)
    console.error(`real: load window done: ${acks.size} jobs acked in ${loadSecs.toFixed(1)} s (${load.closed} sockets closed)`)
    await sleep(5_000)
    return {
      idleSent: idle.sent, idleRecv: idle.recv, loadSent: load.sent, loadRecv: load.recv, ...delays(acks, seen), jobs: acks.size,
      cores: { idle: (c1 - c0) / IDLE_S, load: (c2 - c1) / loadSecs },
    }
  } finally {
    await fleet.cleanup()
  }
}

function delays(acks: Map<string, { at: number; via: string }>, seen: Map<string, Map<string, number>>): { ackToSeen: number[]; spread: number[] } {
  const ackToSeen: number[] = []
  const spread: number[] = []
  for (const [job, { at, via }] of acks) {
    const ds: number[] = []
    for (const [node, firsts] of seen) {
      const t = firsts.get(job)
      if (node === via || t === undefined || t <= at) continue
      ds.push(t - at)
    }
    ackToSeen.push(...ds)
    const min = Math.min(...ds)
    for (const d of ds) spread.push(d - min)
  }
  return { ackToSeen, spread }
}

// --- the simulated side ---------------------------------------------------------------------------------

function simulated(): Measure {
  // Loopback: ~0.05 ms links; every hop's signature check and codec cost is in the gossipsub model.
  const sim = new SimCluster({ seed: 1, config: TEST, recordEvents: false, links: { baseMs: 0.05, linkSpread: 0.2, jitterMs: 0.02 } })
  const nodes = Array.from({ length: N }, (_, i) => ({ id: peerIdLike(i + 1), name: `v${i + 1}`, total: NODE }))
  sim.bootWarm(nodes, TEST.syncIntervalMs)
  sim.run(SETTLE_S * 1000)
  const names = nodes.map((n) => n.id)
  const snap = (): { s: number[]; r: number[] } => {
    const t = sim.net.traffic.snapshot(N)
    return { s: t.bytesSent, r: t.bytesRecv }
  }
  const i0 = snap()
  sim.run(IDLE_S * 1000)
  const i1 = snap()
  const seen = new Map(names.map((n) => [n, new Map<string, number>()]))
  sim.hooks.onEmit = (at, observer, ev) => {
    if (ev.type !== 'job') return
    const m = seen.get(observer) as Map<string, number>
    if (!m.has(ev.job)) m.set(ev.job, at)
  }
  const pending = new Map<number, { job: string; via: string }>()
  const acks = new Map<string, { at: number; via: string }>()
  sim.hooks.onApiReply = (at, reqId, reply) => {
    const p = pending.get(reqId)
    if (p !== undefined && reply.status === 201) acks.set(p.job, { at, via: p.via })
  }
  const l0 = snap()
  const t0 = sim.now
  for (const [k, at] of arrivals().entries()) {
    sim.runUntil(t0 + at)
    const via = names[k % N] as string
    const job = `job-${k}`
    pending.set(sim.submit(via, job, simSpec({ resources: { cpu: JOB.cpu, memoryMb: JOB.memoryMb }, env: { SIM_DURATION_MS: String(JOB.durationMs) } })), { job, via })
  }
  sim.runUntil(t0 + LOAD_S * 1000)
  const l1 = snap()
  sim.run(5_000)
  const per = (a: number[], b: number[], secs: number): number[] => b.map((v, i) => (v - (a[i] ?? 0)) / secs)
  return {
    idleSent: per(i0.s, i1.s, IDLE_S), idleRecv: per(i0.r, i1.r, IDLE_S),
    loadSent: per(l0.s, l1.s, LOAD_S), loadRecv: per(l0.r, l1.r, LOAD_S),
    ...delays(acks, seen), jobs: acks.size,
  }
}

// --- comparison -------------------------------------------------------------------------------------------

function row(what: string, real: number[] | undefined, sim: number[], unit: string): string {
  const f = (xs: number[] | undefined, p: number): string => (xs === undefined || xs.length === 0 ? '-' : percentile(xs, p).toFixed(unit === 'ms' ? 1 : 0))
  const ratio = (p: number): string => (real === undefined || real.length === 0 ? '-' : (percentile(sim, p) / percentile(real, p)).toFixed(2))
  return `| ${what} | ${f(real, 50)} / ${f(real, 99)} | ${f(sim, 50)} / ${f(sim, 99)} | ${ratio(50)} / ${ratio(99)} |`
}

const realMeasure = values['sim-only'] === true ? undefined : await real()
const simMeasure = simulated()
console.log(`${N} nodes, test profile, idle ${IDLE_S} s, then ${RATE} jobs/s (Poisson) for ${LOAD_S} s (sleep ${JOB.durationMs / 1000}; ${JOB.cpu} cpu, ${JOB.memoryMb} MB)`)
console.log(`jobs acked: real ${realMeasure?.jobs ?? '-'}, simulated ${simMeasure.jobs}`)
if (realMeasure?.cores !== undefined) console.log(`real agents used ${realMeasure.cores.idle.toFixed(2)} cores idle and ${realMeasure.cores.load.toFixed(2)} under load (this machine has 2)`)
console.log('| measure (per node; p50 / p99 over nodes or samples) | real | simulated | sim/real |')
console.log('|---|---|---|---|')
console.log(row('idle bytes sent /s', realMeasure?.idleSent, simMeasure.idleSent, 'B'))
console.log(row('idle bytes received /s', realMeasure?.idleRecv, simMeasure.idleRecv, 'B'))
console.log(row('load bytes sent /s', realMeasure?.loadSent, simMeasure.loadSent, 'B'))
console.log(row('load bytes received /s', realMeasure?.loadRecv, simMeasure.loadRecv, 'B'))
console.log(row('201 -> first sight on another node (ms)', realMeasure?.ackToSeen, simMeasure.ackToSeen, 'ms'))
console.log(row('spread of first sights within a job (ms)', realMeasure?.spread, simMeasure.spread, 'ms'))
