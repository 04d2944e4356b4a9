// `npm run sim:sweep -- [--seeds 200] [--from 1] [--nodes 20] [--jobs 30]`: runs the simulator
// once per seed with a seeded fault plan (src/sim/sweep.ts), checks the invariants, and prints
// each failing seed with the command that replays it. Exit status 1 if any seed failed.
import { parseArgs } from 'node:util'
import { runScenario } from '../src/sim/scenario.js'
import { replayCommand, SWEEP_SHAPE, sweepScenario } from '../src/sim/sweep.js'

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '200' },
    from: { type: 'string', default: '1' },
    nodes: { type: 'string', default: String(SWEEP_SHAPE.nodes) },
    jobs: { type: 'string', default: String(SWEEP_SHAPE.jobs) },
  },
})
const count = Number(values.seeds)
const from = Number(values.from)
const nodes = Number(values.nodes)
const jobs = Number(values.jobs)
for (const [k, v] of Object.entries({ seeds: count, from, nodes, jobs })) {
  if (!Number.isInteger(v) || v < (k === 'from' ? 0 : 1)) {
    console.error(`murmur sim:sweep: --${k} must be a positive integer`)
    process.exit(2)
  }
}

const started = Date.now()
const failures: string[] = []
let unfinished = 0
for (let seed = from; seed < from + count; seed++) {
  const o = sweepScenario(seed, { ...SWEEP_SHAPE, nodes, jobs })
  let line: string
  try {
    const r = runScenario(o)
    unfinished += r.workload.unfinished
    if (r.ok) line = `seed ${seed}: ok (${r.invariants.duplicatesFenced} duplicates fenced, ${r.workload.unfinished} unfinished)`
    else {
      line = `seed ${seed}: FAILED lost=${r.invariants.lostAckedJobs} duplicates=${r.invariants.duplicateRuns} overcommit=${r.invariants.overcommit}\n  ` +
        [...r.details.lostAckedJobs, ...r.details.duplicateRuns, ...r.details.overcommit].slice(0, 5).join('\n  ')
      failures.push(`seed ${seed}: ${replayCommand(o)}`)
    }
  } catch (err) {
    line = `seed ${seed}: THREW ${err instanceof Error ? err.message : String(err)}`
    failures.push(`seed ${seed}: ${replayCommand(o)}`)
  }
  console.log(`${line}  [${o.faults}]`)
}
console.log(`\n${count} seeds in ${((Date.now() - started) / 1000).toFixed(1)} s: ${failures.length} failed; ${unfinished} acked jobs unfinished at the end in all`)
if (failures.length > 0) {
  console.log('replay:')
  for (const f of failures) console.log(`  ${f}`)
}
process.exit(failures.length > 0 ? 1 : 0)
