// `npx tsx scripts/idle-bench.ts`: what an idle agent costs. Starts N real agents (separate
// processes, all --join the first, 127.0.0.1), waits until every one sees N alive, lets them
// settle, then samples each agent's CPU (utime+stime from /proc/<pid>/stat) and RSS over a window.
//   --agents N     (default 5: each agent then has 4 peers)
//   --settle S     seconds after convergence before sampling (default 10)
//   --seconds S    sampling window (default 40)
//   --node-args A  extra node flags for the agents (e.g. "--node-args=--max-semi-space-size=1")
//   --profile P    the agents' profile (default test, as the multiproc tests; lan is production's)
// Prints per-agent and mean % of one core, and RSS in MB. Every agent is killed before it exits.
import '../src/node/polyfill.js'
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { AgentFleet, nodesSeenBy, waitFor, type AgentProc } from '../test/support/agents.js'

const { values } = parseArgs({
  options: {
    agents: { type: 'string', default: '5' },
    settle: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '40' },
    'node-args': { type: 'string' },
    profile: { type: 'string', default: 'test' },
  },
})

const TICKS_PER_SECOND = 100

/** utime + stime of a process, in clock ticks (fields 14 and 15 of /proc/<pid>/stat). */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(fields[11]) + Number(fields[12])
}

function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:')) ?? ''
  return Number(/(\d+)/.exec(line)?.[1] ?? NaN) / 1024
}

/**
 * Memory that is this agent's alone (Private_Clean + Private_Dirty, "USS"): RSS also counts the
 * node binary's and shared libraries' pages, which every agent on the machine shares.
 */
function ussMb(pid: number): number {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8')
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? NaN)
  return (kb('Private_Clean') + kb('Private_Dirty')) / 1024
}

/** V8 heap used / total and external memory of an agent, from its /metrics. */
async function heapOf(agent: AgentProc): Promise<string> {
  const text = await (await fetch(`${agent.api}/metrics`, { signal: AbortSignal.timeout(5_000) })).text()
  const metric = (name: string): number => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? NaN) / 1024 / 1024
  const p = 'murmur_process_nodejs_'
  return [metric(`${p}heap_size_used_bytes`), metric(`${p}heap_size_total_bytes`), metric(`${p}external_memory_bytes`)].map((x) => x.toFixed(0)).join('/')
}

async function main(): Promise<void> {
  const n = Number(values.agents)
  if (values['node-args'] !== undefined) process.env.MURMUR_TEST_NODE_ARGS = values['node-args']
  const fleet = new AgentFleet()
  try {
    const profile = ['--profile', values.profile ?? 'test']
    const first = await fleet.start('i1', profile, { timeoutMs: 120_000 })
    const rest = await Promise.all(Array.from({ length: n - 1 }, (_, i) => fleet.start(`i${i + 2}`, [...profile, '--join', first.p2p], { timeoutMs: 120_000 })))
    const agents: AgentProc[] = [first, ...rest]
    await waitFor(`${n} agents to see ${n} alive`, async () => {
      const views = await Promise.all(agents.map(nodesSeenBy))
      return views.every((v) => v.filter((x) => x.state === 'alive').length === n) ? true : undefined
    }, 180_000, 500)
    await new Promise((r) => setTimeout(r, Number(values.settle) * 1000))
    const pids = agents.map((a) => a.child.pid as number)
    const before = pids.map(cpuTicks)
    const t0 = performance.now()
    await new Promise((r) => setTimeout(r, Number(values.seconds) * 1000))
    const seconds = (performance.now() - t0) / 1000
    const after = pids.map(cpuTicks)
    const pcts = pids.map((_, i) => (100 * ((after[i] as number) - (before[i] as number))) / TICKS_PER_SECOND / seconds)
    const rss = pids.map(rssMb)
    const uss = pids.map(ussMb)
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length
    const heaps = await Promise.all(agents.map(heapOf))
    console.log(`agents=${n} profile=${values.profile} window=${seconds.toFixed(0)}s node-args=${values['node-args'] ?? ''}`)
    console.log(`cpu % of a core: ${pcts.map((p) => p.toFixed(2)).join(' ')}  mean ${mean(pcts).toFixed(2)}`)
    console.log(`rss MB:          ${rss.map((r) => r.toFixed(0)).join(' ')}  mean ${mean(rss).toFixed(0)}`)
    console.log(`private (USS) MB: ${uss.map((r) => r.toFixed(0)).join(' ')}  mean ${mean(uss).toFixed(0)}`)
    console.log(`heap used/total/external MB: ${heaps.join('  ')}`)
  } finally {
    await fleet.cleanup()
  }
}

await main()
