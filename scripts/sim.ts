// `npm run sim -- --nodes N --jobs J --seed S [--kill K] [--json]`: runs the real protocol core on
// the seeded simulated network (src/sim) and prints a deterministic report. The same seed gives
// the same output. This is the harness's runner; the full simulator (gossipsub model, partial
// views, 10,000 nodes) is issue 5.
import { parseArgs } from 'node:util'
import { SimCluster, simSpec } from '../src/sim/sim-cluster.js'

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '20' },
    jobs: { type: 'string', default: '200' },
    seed: { type: 'string', default: '1' },
    kill: { type: 'string', default: '0' },
    json: { type: 'boolean', default: false },
  },
})
const nodes = Number(values.nodes)
const jobs = Number(values.jobs)
const seed = Number(values.seed)
const kills = Number(values.kill)
for (const [k, v] of Object.entries({ nodes, jobs, seed, kill: kills })) {
  if (!Number.isInteger(v) || v < 0) { console.error(`murmur sim: --${k} must be a non-negative integer`); process.exit(2) }
}

const sim = new SimCluster({ seed, latencyMs: 1, jitterMs: 1 })
const ids = Array.from({ length: nodes }, (_, i) => `node-${i + 1}`)
for (const id of ids) sim.start(id, id)
sim.runUntilTrue(() => ids.every((o) => sim.core(o).records().filter((r) => r.state === 'alive').length === nodes), 60_000)
const start = sim.now
const submittedAt = new Map<string, number>()
for (let i = 0; i < jobs; i++) {
  submittedAt.set(`job-${i}`, sim.now)
  sim.submit(ids[i % nodes] as string, `job-${i}`, simSpec({ env: { SIM_DURATION_MS: String(200 + (i % 10) * 100) } }))
  sim.run(5)
}
const victims = ids.slice(0, Math.min(kills, Math.max(0, nodes - 3)))
for (const v of victims) sim.kill(v)
const survivor = ids[nodes - 1] as string
sim.runUntilTrue(() => sim.core(survivor).jobStatuses().filter((j) => j.state === 'succeeded' || j.state === 'failed').length === jobs, 600_000)

const firstStart = new Map<string, number>()
for (const r of sim.runs) if (!firstStart.has(r.jobId)) firstStart.set(r.jobId, r.startedAt)
const lat = [...firstStart].map(([id, t]) => t - (submittedAt.get(id) ?? t)).sort((a, b) => a - b)
const pct = (p: number): number => Math.round(lat[Math.min(lat.length - 1, Math.ceil((p / 100) * lat.length) - 1)] ?? NaN)
const { duplicates, overcommit } = sim.violations()
const simSeconds = (sim.now - start) / 1000
const report = {
  nodes, jobs, seed, killed: victims.length,
  succeeded: sim.core(survivor).jobStatuses().filter((j) => j.state === 'succeeded').length,
  submitToStartMs: { p50: pct(50), p99: pct(99) },
  runs: sim.runs.length,
  simulatedSeconds: Math.round(simSeconds * 10) / 10,
  bytesPerNodePerSecond: Math.round((sim.bytes.gossip + sim.bytes.rpc) / nodes / simSeconds),
  invariants: { duplicateRuns: duplicates.length, overcommit: overcommit.length },
}
if (values.json) console.log(JSON.stringify(report))
else for (const [k, v] of Object.entries(report)) console.log(`${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`)
process.exit(duplicates.length + overcommit.length > 0 ? 1 : 0)
