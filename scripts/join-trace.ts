// `npx tsx scripts/join-trace.ts --n 50 --out DIR`: the bench's join (first agent, then n-1 at
// once joining it, LAN profile) with a trace: every --every-ms, each agent's view (state and
// incarnation of every member) goes to DIR/views.jsonl; at the end each agent's /metrics to
// DIR/metrics-<name>.txt and its stderr to DIR/log-<name>.txt. --debug K: the first K agents log
// at debug level. Every agent is stopped before it exits.
import '../src/node/polyfill.js'
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import { AgentFleet, nodesSeenBy, type AgentProc } from '../test/support/agents.js'

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '50' },
    out: { type: 'string', default: '/tmp/join-trace' },
    'every-ms': { type: 'string', default: '1000' },
    'limit-s': { type: 'string', default: '120' },
    debug: { type: 'string', default: '0' },
    profile: { type: 'string', default: 'lan' },
  },
})
const n = Number(values.n)
/** Clock ticks of CPU: all of the machine's (busy), and our agents'. */
function machineBusy(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
  return f.reduce((a, b) => a + b, 0) - (f[3] ?? 0) - (f[4] ?? 0)
}
function agentTicks(pids: number[]): number {
  let t = 0
  for (const pid of pids) {
    try {
      const x = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const fields = x.slice(x.lastIndexOf(')') + 2).split(' ')
      t += Number(fields[11]) + Number(fields[12])
    } catch { /* gone */ }
  }
  return t
}
const out = values.out as string
mkdirSync(out, { recursive: true })
const fleet = new AgentFleet()
const args = (i: number): string[] => ['--profile', values.profile as string, ...(i < Number(values.debug) ? ['--log-level', 'debug'] : [])]
try {
  const t0 = Date.now()
  const first = await fleet.start('j1', args(0), { timeoutMs: 180_000 })
  const rest = await Promise.all(Array.from({ length: n - 1 }, (_, i) => fleet.start(`j${i + 2}`, [...args(i + 1), '--join', first.p2p], { timeoutMs: 180_000 })))
  const agents: AgentProc[] = [first, ...rest]
  const readyMs = Date.now() - t0
  console.log(`ready after ${readyMs} ms (load ${loadavg()[0]?.toFixed(1)}); the agents used ${(agentTicks(agents.map((a) => a.child.pid as number)) / 100).toFixed(1)} s of cpu so far`)
  let convergedMs: number | undefined
  const pids = agents.map((a) => a.child.pid as number)
  let lastBusy = machineBusy(); let lastOurs = agentTicks(pids); let lastAt = Date.now()
  while (Date.now() - t0 < Number(values['limit-s']) * 1000) {
    const at = Date.now() - t0
    const views = await Promise.all(agents.map(async (a) => {
      try {
        return (await nodesSeenBy(a)).map((r) => [r.name, r.state, r.incarnation])
      } catch {
        return null
      }
    }))
    appendFileSync(`${out}/views.jsonl`, JSON.stringify({ at, load: loadavg()[0], views: Object.fromEntries(agents.map((a, i) => [a.name, views[i]])) }) + '\n')
    const alive = views.map((v) => v === null ? -1 : v.filter((r) => r[1] === 'alive').length)
    const s = [...alive].sort((a, b) => a - b)
    const busy = machineBusy(); const ours = agentTicks(pids); const secs = (Date.now() - lastAt) / 1000
    const cpu = `machine ${((busy - lastBusy) / secs).toFixed(0)}% ours ${((ours - lastOurs) / secs).toFixed(0)}% (of one core)`
    lastBusy = busy; lastOurs = ours; lastAt = Date.now()
    console.log(`t=${(at / 1000).toFixed(1)}s alive min/med/max ${s[0]}/${s[s.length >> 1]}/${s[s.length - 1]} load ${loadavg()[0]?.toFixed(1)} ${cpu}`)
    if (alive.every((x) => x === n)) { convergedMs = at; break }
    await new Promise((r) => setTimeout(r, Number(values['every-ms'])))
  }
  console.log(convergedMs === undefined ? 'NOT converged' : `converged at ${convergedMs} ms`)
  await Promise.all(agents.map(async (a) => {
    try {
      writeFileSync(`${out}/metrics-${a.name}.txt`, await (await fetch(`${a.api}/metrics`, { signal: AbortSignal.timeout(10_000) })).text())
    } catch { /* a busy agent: no metrics */ }
    writeFileSync(`${out}/log-${a.name}.txt`, a.stderr.join('\n'))
  }))
} finally {
  await fleet.cleanup()
}
