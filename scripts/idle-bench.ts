// `npx tsx scripts/idle-bench.ts`: what an idle agent costs. Starts N real agents (separate
// processes, all --join the first, 127.0.0.1), waits until every one sees N alive, lets them
// settle, then samples each agent's CPU (utime+stime from /proc) and RSS over one or more windows.
// CPU is split by thread: the main thread (JavaScript, the event loop and its syscalls) and the
// rest (V8's platform workers: concurrent compilation and GC; libuv's pool), because they move
// for different reasons: a fresh agent's workers are busy optimising code for its first minutes.
// `--help` lists the flags. Every agent is killed before it exits.
import '../src/node/polyfill.js'
import { readdirSync, readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { AgentFleet, nodesSeenBy, waitFor, type AgentProc } from '../test/support/agents.js'
import { clockTicksPerSec } from './bench/proc-stat.js'

const USAGE = `usage: npx tsx scripts/idle-bench.ts [flags]
  --agents N     agents (default 5: each agent then has 4 peers)
  --settle S     seconds after convergence before the first window (default 10)
  --seconds S    length of one sampling window (default 40)
  --windows K    windows in a row, each reported (default 1): shows how the cost falls while V8
                 optimises the agents' code; the last window's figures are the summary
  --node-args A  extra node flags for the agents (e.g. "--node-args=--max-semi-space-size=1")
  --profile P    the agents' profile (default test, as the multiproc tests; lan is production's)
Prints % of one core per agent and its split by thread (ms of CPU per second), RSS and private
memory (USS) in MB, and the V8 heap.`

let values: { agents: string; settle: string; seconds: string; windows: string; 'node-args'?: string; profile: string; help?: boolean }
try {
  values = parseArgs({
    options: {
      agents: { type: 'string', default: '5' },
      settle: { type: 'string', default: '10' },
      seconds: { type: 'string', default: '40' },
      windows: { type: 'string', default: '1' },
      'node-args': { type: 'string' },
      profile: { type: 'string', default: 'test' },
      help: { type: 'boolean', short: 'h' },
    },
  }).values as typeof values
} catch (err) {
  console.error(`${(err as Error).message}\n${USAGE}`)
  process.exit(2)
}
if (values.help === true) {
  console.log(USAGE)
  process.exit(0)
}

/** A flag's value as a number in [min, max], or exit 2 saying which flag is wrong. */
function numberFlag(name: keyof typeof values, min: number, max: number): number {
  const v = Number(values[name])
  if (!Number.isFinite(v) || v < min || v > max) {
    console.error(`--${name} must be a number from ${min} to ${max}, got ${JSON.stringify(values[name])}\n${USAGE}`)
    process.exit(2)
  }
  return v
}

const agentCount = numberFlag('agents', 1, 100)
const settleS = numberFlag('settle', 0, 3_600)
const windowS = numberFlag('seconds', 1, 3_600)
const windowCount = numberFlag('windows', 1, 100)

/** CPU clock ticks (utime + stime) of each thread of a process: the main thread, and the others summed. */
function threadTicks(pid: number): { main: number; other: number } {
  let main = 0
  let other = 0
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat: string
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')
    } catch {
      continue // a thread that ended between the listing and the read
    }
    // Fields after the command name's ')': utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const ticks = Number(fields[11]) + Number(fields[12])
    if (tid === String(pid)) main += ticks
    else other += ticks
  }
  return { main, other }
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

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length
const fmt = (xs: number[], digits: number): string => `${xs.map((x) => x.toFixed(digits)).join(' ')}  mean ${mean(xs).toFixed(digits)}`

/** One window: per agent, % of a core in all, and ms of CPU per second on the main thread and on the others. */
async function sampleWindow(pids: number[]): Promise<{ pcts: number[]; mainMs: number[]; otherMs: number[]; seconds: number }> {
  const before = pids.map(threadTicks)
  const t0 = performance.now()
  await sleep(windowS * 1000)
  const seconds = (performance.now() - t0) / 1000
  const after = pids.map(threadTicks)
  const msPerS = (ticks: number): number => (1000 * ticks) / clockTicksPerSec() / seconds
  const mainMs = pids.map((_, i) => msPerS(after[i]!.main - before[i]!.main))
  const otherMs = pids.map((_, i) => msPerS(after[i]!.other - before[i]!.other))
  return { pcts: mainMs.map((m, i) => (m + otherMs[i]!) / 10), mainMs, otherMs, seconds }
}

async function main(): Promise<void> {
  if (values['node-args'] !== undefined) process.env.MURMUR_TEST_NODE_ARGS = values['node-args']
  const fleet = new AgentFleet()
  try {
    const profile = ['--profile', values.profile]
    const first = await fleet.start('i1', profile, { timeoutMs: 120_000 })
    const rest = await Promise.all(Array.from({ length: agentCount - 1 }, (_, i) => fleet.start(`i${i + 2}`, [...profile, '--join', first.p2p], { timeoutMs: 120_000 })))
    const agents: AgentProc[] = [first, ...rest]
    const startedAt = performance.now()
    await waitFor(`${agentCount} agents to see ${agentCount} alive`, async () => {
      const views = await Promise.all(agents.map(nodesSeenBy))
      return views.every((v) => v.filter((x) => x.state === 'alive').length === agentCount) ? true : undefined
    }, 180_000, 500)
    await sleep(settleS * 1000)
    const pids = agents.map((a) => a.child.pid as number)
    console.log(`agents=${agentCount} profile=${values.profile} window=${windowS}s x${windowCount} node-args=${values['node-args'] ?? ''}`)
    let last: Awaited<ReturnType<typeof sampleWindow>> | undefined
    for (let w = 0; w < windowCount; w++) {
      const from = (performance.now() - startedAt) / 1000
      last = await sampleWindow(pids)
      if (windowCount > 1) {
        const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0]
        console.log(`window ${w + 1} (${from.toFixed(0)}-${(from + last.seconds).toFixed(0)} s after the agents were ready): ${mean(last.pcts).toFixed(2)} % of a core; main thread ${mean(last.mainMs).toFixed(2)} ms/s, other threads ${mean(last.otherMs).toFixed(2)} ms/s; load ${load}`)
      }
    }
    const { pcts, mainMs, otherMs } = last!
    const rss = pids.map(rssMb)
    const uss = pids.map(ussMb)
    const heaps = await Promise.all(agents.map(heapOf))
    console.log(`cpu % of a core: ${fmt(pcts, 2)}`)
    console.log(`  main thread ms/s:   ${fmt(mainMs, 2)}`)
    console.log(`  other threads ms/s: ${fmt(otherMs, 2)}`)
    console.log(`rss MB:          ${fmt(rss, 0)}`)
    console.log(`private (USS) MB: ${fmt(uss, 0)}`)
    console.log(`heap used/total/external MB: ${heaps.join('  ')}`)
  } finally {
    await fleet.cleanup()
  }
}

await main()
