// `npx tsx scripts/scale-bench.ts --sizes 10,30,50`: many real agents on this machine (separate
// processes, 127.0.0.1, all --join the first, started at once). For each size it reports:
//   ready:     start of the first agent -> every agent printed its ready line
//   converged: every agent's /v1/nodes lists N alive (polled on every agent every --poll-ms)
//   kill:      SIGKILL one agent -> every other agent says dead (each observer polled in its own
//              loop every 100 ms; the figure is the slowest observer's first 'dead')
// plus the machine's load average and the agents' mean cpu and RSS once converged.
// cpu figures are in % of one core (200% = both cores of this machine).
//   --sizes LIST   (default 10,30)   --kills K (default 2)   --deadline S (default 120, per wait)
//   --profile P    agent profile (default test, as the multiproc tests; 'lan' is production's)
//   --timeline-ms T   while waiting for convergence, a progress line every T ms (0: none): views,
//                  agents not answering, TCP connections per agent (ss), the agents' cpu, load
// Every agent is SIGKILLed and its data dir removed before the script moves on or exits.
import '../src/node/polyfill.js'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import { AgentFleet, nodesSeenBy, type AgentProc } from '../test/support/agents.js'

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10,30' },
    kills: { type: 'string', default: '2' },
    deadline: { type: 'string', default: '120' },
    'poll-ms': { type: 'string', default: '500' },
    profile: { type: 'string', default: 'test' },
    'timeline-ms': { type: 'string', default: '5000' },
  },
})

const deadlineMs = Number(values.deadline) * 1000
const KILL_POLL_MS = 100

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(fields[11]) + Number(fields[12])
}

function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:')) ?? ''
  return Number(/(\d+)/.exec(line)?.[1] ?? NaN) / 1024
}

async function aliveCount(agent: AgentProc): Promise<number> {
  try {
    return (await nodesSeenBy(agent)).filter((n) => n.state === 'alive').length
  } catch {
    return -1
  }
}

/** Established TCP connections per pid (both ends of a connection between agents count once each). */
function connectionsByPid(): Map<number, number> {
  const out = new Map<number, number>()
  try {
    const text = execFileSync('ss', ['-tnpH', 'state', 'established'], { encoding: 'utf8', timeout: 5_000 })
    for (const m of text.matchAll(/pid=(\d+)/g)) out.set(Number(m[1]), (out.get(Number(m[1])) ?? 0) + 1)
  } catch {
    // no ss here: the timeline goes without connection counts
  }
  return out
}

const quantiles = (xs: number[]): string => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? '-' : `${s[0]}/${s[Math.floor(s.length / 2)]}/${s[s.length - 1]}`
}

/**
 * One line every --timeline-ms while waiting: what each agent sees (min/median/max alive,
 * agents whose API did not answer), its connections, and the CPU the agents used meanwhile.
 */
class Timeline {
  private lastAt = Date.now()
  private lastCpu: number[]
  constructor(private readonly agents: AgentProc[], private readonly t0: number) {
    this.lastCpu = agents.map((a) => safeCpu(a.child.pid as number))
  }

  maybePrint(views: number[]): void {
    const every = Number(values['timeline-ms'])
    if (every <= 0 || Date.now() - this.lastAt < every) return
    const cpu = this.agents.map((a) => safeCpu(a.child.pid as number))
    const secs = (Date.now() - this.lastAt) / 1000
    const used = cpu.reduce((sum, c, i) => sum + (c - (this.lastCpu[i] as number)), 0) / secs
    const seed = ((cpu[0] as number) - (this.lastCpu[0] as number)) / secs
    const conns = connectionsByPid()
    this.lastAt = Date.now()
    this.lastCpu = cpu
    const answered = views.filter((v) => v >= 0)
    console.log(`  t=${((Date.now() - this.t0) / 1000).toFixed(0)}s alive seen ${quantiles(answered)} (min/median/max), ${views.length - answered.length} did not answer; ` +
      `connections ${quantiles(this.agents.map((a) => conns.get(a.child.pid as number) ?? 0))}; agents used ${used.toFixed(0)}% cpu (the seed ${seed.toFixed(0)}%); load ${loadavg()[0]?.toFixed(1)}`)
  }
}

function safeCpu(pid: number): number {
  try {
    return cpuTicks(pid)
  } catch {
    return 0
  }
}

/** Polls every agent until all see `n` alive; returns ms, or the slowest view at the deadline. */
async function converge(agents: AgentProc[], n: number, t0Launch: number): Promise<{ ms: number } | { views: number[]; worst: AgentProc }> {
  const t0 = Date.now()
  const timeline = new Timeline(agents, t0Launch)
  let views: number[] = []
  while (Date.now() - t0 < deadlineMs) {
    views = await Promise.all(agents.map(aliveCount))
    if (views.every((v) => v === n)) return { ms: Date.now() - t0 }
    timeline.maybePrint(views)
    await new Promise((r) => setTimeout(r, Number(values['poll-ms'])))
  }
  const worst = agents[views.indexOf(Math.min(...views))] as AgentProc
  return { views, worst }
}

/** Message counters of one agent (sums over types), to tell a gossip storm from a quiet start. */
async function traffic(agent: AgentProc): Promise<string> {
  try {
    const text = await (await fetch(`${agent.api}/metrics`, { signal: AbortSignal.timeout(5_000) })).text()
    const sum = (name: string): number => [...text.matchAll(new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)`, 'gm'))].reduce((a, m) => a + Number(m[2]), 0)
    const published = [...text.matchAll(/^murmur_gossip_published_total\{type="([^"]*)"\} (\S+)/gm)].map((m) => `${m[1]}=${m[2]}`).join(' ')
    const failures = [...text.matchAll(/^murmur_rpc_failed_total\{([^}]*)\} (\S+)/gm)].map((m) => `${m[1]}=${m[2]}`).join(' ')
    return `gossip published ${sum('murmur_gossip_published_total')} (${published}), received ${sum('murmur_gossip_received_total')}; rpc sent ${sum('murmur_rpc_sent_total')}, failed ${sum('murmur_rpc_failed_total')}; suspicions ${sum('murmur_suspicions_total')}, refutations ${sum('murmur_refutations_total')}; failures: ${failures}`
  } catch (err) {
    return `no metrics: ${String(err)}`
  }
}

/** SIGKILLs `victim`; resolves to ms until every observer says dead (or undefined past 30 s). */
async function killAndWatch(victim: AgentProc, observers: AgentProc[]): Promise<number | undefined> {
  const t0 = Date.now()
  victim.child.kill('SIGKILL')
  const firstDead = await Promise.all(observers.map(async (o) => {
    while (Date.now() - t0 < 30_000) {
      try {
        if ((await nodesSeenBy(o)).find((x) => x.name === victim.name)?.state === 'dead') return Date.now() - t0
      } catch {
        // an overloaded agent may not answer in time; keep asking until the bound
      }
      await new Promise((r) => setTimeout(r, KILL_POLL_MS))
    }
    return undefined
  }))
  return firstDead.some((x) => x === undefined) ? undefined : Math.max(...(firstDead as number[]))
}

async function runSize(n: number): Promise<void> {
  const fleet = new AgentFleet()
  const profile = ['--profile', values.profile ?? 'test']
  try {
    const t0 = Date.now()
    const first = await fleet.start('s1', profile, { timeoutMs: deadlineMs })
    const rest = await Promise.all(Array.from({ length: n - 1 }, (_, i) => fleet.start(`s${i + 2}`, [...profile, '--join', first.p2p], { timeoutMs: deadlineMs })))
    const agents = [first, ...rest]
    const readyMs = Date.now() - t0
    const result = await converge(agents, n, t0)
    const totalMs = Date.now() - t0
    if ('views' in result) {
      console.log(`n=${n}: ready ${readyMs} ms; NOT converged in ${deadlineMs} ms; alive counts seen: ${[...result.views].sort((a, b) => a - b).join(',')} (load ${loadavg()[0]?.toFixed(1)})`)
      console.log(`${first.name}: ${await traffic(first)}`)
      console.log(`last log lines of ${result.worst.name}:\n${result.worst.stderr.slice(-6).join('\n')}`)
      return
    }
    const pids = agents.map((a) => a.child.pid as number)
    const before = pids.map(cpuTicks)
    const s0 = performance.now()
    await new Promise((r) => setTimeout(r, 10_000))
    const cpu = pids.map((p, i) => (cpuTicks(p) - (before[i] as number)) / ((performance.now() - s0) / 1000))
    const rss = pids.map(rssMb)
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length
    console.log(`n=${n}: ready ${readyMs} ms, then all see ${n} alive after ${result.ms} ms (${totalMs} ms from the first start); ` +
      `10 s after: ${mean(cpu).toFixed(2)}% of a core and ${mean(rss).toFixed(0)} MB RSS per agent (load ${loadavg()[0]?.toFixed(1)})`)
    console.log(`${first.name}: ${await traffic(first)}`)
    const live = [...agents]
    for (let k = 0; k < Number(values.kills) && live.length > 2; k++) {
      const victim = live.pop() as AgentProc
      const ms = await killAndWatch(victim, live)
      console.log(`n=${n}: SIGKILL ${victim.name} -> dead on all ${live.length} others after ${ms ?? '>30000'} ms (load ${loadavg()[0]?.toFixed(1)})`)
    }
  } finally {
    await fleet.cleanup()
  }
}

for (const n of (values.sizes ?? '').split(',').map(Number).filter((x) => x > 1)) await runSize(n)
