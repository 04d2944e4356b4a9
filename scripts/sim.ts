// `npm run sim -- --nodes N --jobs J --seed S [--faults SPEC] [--json]`: runs the real protocol
// core on the seeded simulated network (src/sim) and prints a deterministic report: the same
// flags print byte-identical output. Exit status 1 when an invariant broke, 2 on a bad flag.
// A progress bar goes to stderr only when stderr is a terminal; --timing adds wall time, memory
// and event counts on stderr (they differ from run to run, so they never touch stdout).
// The idle window and the packing fill run on their own copy of the booted cluster
// (src/sim/packing.ts), so they run on a second thread beside the workload: the report is the one
// runScenario() gives on one thread.
import { parseArgs } from 'node:util'
import { Worker } from 'node:worker_threads'
import { PROFILES, type ProfileName } from '../src/core/config.js'
import { FaultSpecError, parseFaults } from '../src/sim/faults.js'
import type { LinkOptions } from '../src/sim/network.js'
import type { ClusterMeasure } from '../src/sim/packing.js'
import { assemble, runWorkload, type Progress, type ScenarioOptions, type ScenarioReport, type TrafficReport } from '../src/sim/scenario.js'

const USAGE = `usage: npm run sim -- [--nodes 20] [--jobs 200] [--seed 1] [--faults SPEC] [--json]
  --profile lan|test|wan   failure-detector timing (default lan)
  --boot warm|cold         warm: start as a running cluster (default); cold: every node joins
  --rate R                 jobs per simulated second (default: half the cluster's cpu busy)
  --job-ms MS              median run time of a job (default 4000)
  --settle SECONDS         wait at most this long for the last jobs after the last submit/fault (default 120)
  --idle SECONDS           idle window, on the second copy of the cluster (default 10)
  --no-fill                skip the packing measurement
  --latency-ms MS          one-way link latency base (default 1)
  --jitter-ms MS           median jitter (default 0.2); --jitter uniform|lognormal (default lognormal)
  --loss P                 base loss probability of gossip frames and rpc messages (default 0)
  --max-connections K      connections per node (libp2p's default 300)
  --cell-size S            nodes per cell: the cluster is split into ceil(N / S) cells (default 100)
  --watchers W             nodes with a watcher on their event stream, which hear every event of
                           their cell (default one per 100 nodes)
  --timing                 wall time and memory on stderr
  --progress               progress lines on stderr even when it is not a terminal (every 15 s)
faults: comma-separated KIND:TARGET@TIME[-TIME], e.g. kill:3@10s,restart:3@20s,freeze:2@5s-8s,partition:30%@15s-25s
  kinds: kill (with a window: restart at its end), restart, freeze, partition, loss; targets: node
  numbers (1+2+3), a share (30%), or busiest; times after the workload starts (500ms, 10s, 2m).`

function fail(message: string): never {
  console.error(`murmur sim: ${message}`)
  process.exit(2)
}

let values: Record<string, string | boolean | undefined>
try {
  values = parseArgs({
    options: {
      nodes: { type: 'string', default: '20' },
      jobs: { type: 'string', default: '200' },
      seed: { type: 'string', default: '1' },
      faults: { type: 'string', default: '' },
      profile: { type: 'string', default: 'lan' },
      boot: { type: 'string', default: 'warm' },
      rate: { type: 'string' },
      idle: { type: 'string', default: '10' },
      'job-ms': { type: 'string' },
      settle: { type: 'string', default: '120' },
      'no-fill': { type: 'boolean', default: false },
      'latency-ms': { type: 'string' },
      'jitter-ms': { type: 'string' },
      jitter: { type: 'string' },
      loss: { type: 'string' },
      'max-connections': { type: 'string' },
      'cell-size': { type: 'string', default: '100' },
      watchers: { type: 'string' },
      json: { type: 'boolean', default: false },
      timing: { type: 'boolean', default: false },
      progress: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  }).values
} catch (err) {
  fail(`${err instanceof Error ? err.message : String(err)}\n${USAGE}`)
}
if (values.help === true) {
  console.log(USAGE)
  process.exit(0)
}

const str = (k: string): string | undefined => values[k] as string | undefined
function int(k: string, min: number): number {
  const v = Number(str(k))
  if (!Number.isInteger(v) || v < min) fail(`--${k} must be an integer >= ${min}, got "${str(k)}"`)
  return v
}
function num(k: string, min: number, max = Infinity): number | undefined {
  const s = str(k)
  if (s === undefined) return undefined
  const v = Number(s)
  if (!Number.isFinite(v) || v < min || v > max) fail(`--${k} must be a number in [${min}, ${max}], got "${s}"`)
  return v
}

const nodes = int('nodes', 1)
const jobs = int('jobs', 0)
const seed = int('seed', 0)
const profile = str('profile') as ProfileName
if (!(profile in PROFILES)) fail(`--profile must be one of ${Object.keys(PROFILES).join(', ')}, got "${profile}"`)
const boot = str('boot')
if (boot !== 'warm' && boot !== 'cold') fail(`--boot must be warm or cold, got "${boot}"`)
const faults = str('faults') ?? ''
try {
  parseFaults(faults, nodes)
} catch (err) {
  if (err instanceof FaultSpecError) fail(`--faults: ${err.message}`)
  throw err
}
const jitter = str('jitter')
if (jitter !== undefined && jitter !== 'uniform' && jitter !== 'lognormal') fail(`--jitter must be uniform or lognormal, got "${jitter}"`)
const links: Partial<LinkOptions> = {}
const latency = num('latency-ms', 0)
if (latency !== undefined) links.baseMs = latency
const jitterMs = num('jitter-ms', 0)
if (jitterMs !== undefined) links.jitterMs = jitterMs
if (jitter !== undefined) links.jitter = jitter
const loss = num('loss', 0, 1)
if (loss !== undefined) { links.gossipLoss = loss; links.rpcLoss = loss }
const rate = num('rate', 0.001)
const idleSeconds = num('idle', 0) ?? 10
const jobMs = num('job-ms', 1)
const settleSeconds = num('settle', 0) ?? 120
const maxConnections = str('max-connections') === undefined ? undefined : int('max-connections', 1)
const cells = Math.max(1, Math.ceil(nodes / int('cell-size', 1)))
const watchers = str('watchers') === undefined ? undefined : int('watchers', 0)

const options: ScenarioOptions = {
  nodes, jobs, seed, faults, profile, boot, idleMs: idleSeconds * 1000, settleMs: settleSeconds * 1000, fill: values['no-fill'] !== true, links,
  ...(rate === undefined ? {} : { rate }),
  ...(jobMs === undefined ? {} : { jobMs }),
  ...(maxConnections === undefined ? {} : { maxConnections }),
  cells,
  ...(watchers === undefined ? {} : { watchers }),
  // The unit simulations and the seed sweeps check every message against the wire schema; here
  // the core's messages are only measured and copied (the report is the same either way).
  checkMessages: false,
}

/** The second thread's progress (idle window, then fill): [fraction, simulated seconds]. */
const fillProgress = new Float64Array(new SharedArrayBuffer(16))
const bar = process.stderr.isTTY ? progressBar() : values.progress === true ? progressLines() : undefined
const wallStart = Date.now()
const measure = measureThread(options)
let workloadProgress: Progress = { phase: 'boot', fraction: 0, simSeconds: 0 }
const report0 = runWorkload({ ...options, ...(bar === undefined ? {} : { onProgress: (p: Progress) => { workloadProgress = p; bar.update() } }) })
workloadProgress = { ...workloadProgress, fraction: 1 }
const poll = bar === undefined ? undefined : setInterval(() => bar.update(), 1000)
let report: ScenarioReport
try {
  report = assemble(report0, await measure)
} catch (err) {
  console.error(`murmur sim: the idle and packing measurement failed: ${err instanceof Error ? err.stack : String(err)}`)
  process.exit(1)
}
if (poll !== undefined) clearInterval(poll)
bar?.done()
if (values.timing === true) {
  const mem = process.memoryUsage()
  console.error(`timing: wall ${((Date.now() - wallStart) / 1000).toFixed(1)} s, rss ${(mem.rss / 2 ** 20).toFixed(0)} MB, heap used ${(mem.heapUsed / 2 ** 20).toFixed(0)} MB (this thread)`)
}
console.log(values.json === true ? JSON.stringify(report) : formatReport(report))
process.exit(report.ok ? 0 : 1)

/** measureCluster(options) on a worker thread (scripts/sim-measure-worker.js). */
function measureThread(o: ScenarioOptions): Promise<ClusterMeasure> {
  const worker = new Worker(new URL('./sim-measure-worker.js', import.meta.url), { workerData: { options: o, progress: fillProgress.buffer } })
  return new Promise((resolve, reject) => {
    worker.once('message', (r: ClusterMeasure) => { resolve(r); void worker.terminate() })
    worker.once('error', reject)
    worker.once('exit', (code) => reject(new Error(`the measuring thread exited with code ${code} before its result`)))
  })
}

/** Where the run is: the workload's phase, and the second thread's (idle window, then fill). */
function where(): { fraction: number; text: string } {
  const w = workloadProgress
  const m = fillProgress[0] ?? 0
  return { fraction: Math.min(w.fraction, m), text: `${w.phase} ${(w.fraction * 100).toFixed(0)}%, ${w.simSeconds.toFixed(1)} s simulated; idle+fill ${(m * 100).toFixed(0)}%, ${(fillProgress[1] ?? 0).toFixed(1)} s simulated` }
}

function progressBar(): { update: () => void; done: () => void } {
  let last = 0
  const width = 30
  return {
    update() {
      const now = Date.now()
      if (now - last < 200) return
      last = now
      const p = where()
      const filled = Math.round(p.fraction * width)
      process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(p.fraction * 100).toFixed(0).padStart(3)}% ${p.text}`.padEnd(width + 80))
    },
    done() {
      process.stderr.write(`\r${' '.repeat(width + 80)}\r`)
    },
  }
}

function progressLines(): { update: () => void; done: () => void } {
  let last = Date.now()
  return {
    update() {
      if (Date.now() - last < 15_000) return
      last = Date.now()
      const mem = process.memoryUsage()
      process.stderr.write(`progress: ${where().text}, wall ${((Date.now() - wallStart) / 1000).toFixed(0)} s, heap ${(mem.heapUsed / 2 ** 20).toFixed(0)} MB\n`)
    },
    done() {},
  }
}

function formatReport(r: ScenarioReport): string {
  const w = r.workload
  const lines: Array<[string, string]> = [
    ['run', `${r.nodes} nodes${r.cells > 1 ? ` in ${r.cells} cells` : ''}, ${r.jobs} jobs, seed ${r.seed}, profile ${r.profile}, ${r.boot} boot, faults: ${r.faults === '' ? 'none' : r.faults}`],
    ['simulated', `${r.simulatedSeconds} s; workload ${w.seconds} s at ${r.ratePerSec} jobs/s`],
    ['jobs', `acked ${w.acked}, rejected ${w.rejected}, unanswered ${w.unanswered}, succeeded ${w.succeeded}, failed ${w.failed}, unfinished ${w.unfinished}, under-replicated ${w.underReplicated}`],
    ['submit->start', `p50 ${w.submitToStartMs.p50} ms, p99 ${w.submitToStartMs.p99} ms, max ${w.submitToStartMs.max} ms`],
    ['placements', `${w.placementsPerSec} /s`],
    ...traffic('workload', w.traffic),
    ...traffic('idle', r.idle),
    ['gossip delivery', (Number.isNaN(r.gossip.deliveryMs.p50) ? 'no cluster-topic message in the workload' : `p50 ${r.gossip.deliveryMs.p50} ms, p99 ${r.gossip.deliveryMs.p99} ms; ${r.gossip.copiesPerDelivery} copies per delivery`) +
      `; ${r.gossip.recoveredByIwant} recovered by IWANT; ${r.gossip.oversized} messages over a codec size limit`],
    ['kill->running', r.killRecovery.affected === 0 ? 'no instance was on a killed node'
      : `${r.killRecovery.affected} affected, ${r.killRecovery.recovered} running again: p50 ${r.killRecovery.p50Ms} ms, p99 ${r.killRecovery.p99Ms} ms, max ${r.killRecovery.maxMs} ms`],
    ['placement', r.placement === null ? 'not measured (--no-fill)'
      : `${r.placement.placedBeforeFirstRejection} placed before the first capacity rejection vs ${r.placement.bestFit} by offline best-fit-decreasing ` +
        `(${(r.placement.ratio * 100).toFixed(1)}%); ${r.placement.placedTotal} of ${r.placement.fillJobs} in all; cpu load max ${r.placement.maxLoad}, mean ${r.placement.meanLoad}; ` +
        `${r.placement.seconds} s simulated on its own copy of the booted cluster`],
    ['invariants', `lost acked jobs ${r.invariants.lostAckedJobs}, duplicate runs ${r.invariants.duplicateRuns} (fenced after faults: ${r.invariants.duplicatesFenced}), overcommit ${r.invariants.overcommit}`],
  ]
  for (const d of r.details.lostAckedJobs) lines.push(['  lost', d])
  for (const d of r.details.duplicateRuns) lines.push(['  duplicate', d])
  for (const d of r.details.overcommit) lines.push(['  overcommit', d])
  lines.push(['result', r.ok ? 'ok' : 'INVARIANT BROKEN'])
  return lines.map(([k, v]) => `${k.padEnd(26)}${v}`).join('\n')
}

function traffic(what: string, t: TrafficReport): Array<[string, string]> {
  return [
    [`${what} per node per s`, `bytes sent p50 ${t.bytesSent.p50} max ${t.bytesSent.max}; received p50 ${t.bytesRecv.p50} max ${t.bytesRecv.max}`],
    ['', `messages sent p50 ${t.msgsSent.p50} max ${t.msgsSent.max}; received p50 ${t.msgsRecv.p50} max ${t.msgsRecv.max}`],
    ['', `received bytes by channel (p50): ${Object.entries(t.recvByChannel).map(([k, v]) => `${k} ${v}`).join(', ')}`],
  ]
}
