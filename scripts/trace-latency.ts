// Where a one-at-a-time submit->start goes, stage by stage: starts agents with MURMUR_LAT_TRACE
// (src/node/lat-trace.ts), submits jobs one at a time as the bench's latency measurement does
// (scripts/bench/measure-latency.ts), and merges the agents' trace lines, the client's send and
// 201 times and each job's start stamp into one timeline per job. Prints the p50 job's timeline
// and the median of each stage; every timeline goes to <dir>/timeline.txt.
//   npx tsx scripts/trace-latency.ts [--jobs 30] [--agents 5] [--dir /tmp/murmur-lat-trace] [--no-watch]
// The trace costs a synchronous write per line: use it to find stages, the bench for figures.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { BenchCluster, pollUntil } from './bench/cluster.js'
import { EventWatch } from './bench/events.js'
import { jobView, startStamp, STAMP_JOB, submitTimed } from './bench/job-client.js'

const { values } = parseArgs({ options: {
  jobs: { type: 'string', default: '30' }, agents: { type: 'string', default: '5' }, dir: { type: 'string', default: '/tmp/murmur-lat-trace' },
  // Poll each job's state instead of watching the event streams, which make every agent publish
  // and relay activity digests: what the streams cost a job's start, by difference.
  'no-watch': { type: 'boolean', default: false },
} })
const JOBS = Number(values.jobs)
const AGENTS = Number(values.agents)
if (!Number.isInteger(JOBS) || JOBS < 1 || JOBS > 1000 || !Number.isInteger(AGENTS) || AGENTS < 1 || AGENTS > 10) {
  console.error('usage: trace-latency.ts [--jobs 1-1000] [--agents 1-10] [--dir DIR]')
  process.exit(2)
}
const dir = values.dir
rmSync(dir, { recursive: true, force: true })
mkdirSync(dir, { recursive: true })
// The agents inherit it (test/support/agents.ts spawns them with this environment).
process.env.MURMUR_LAT_TRACE = dir

interface Line { t: number; who: string; what: string }
interface Job { id: string; via: string; ran: string; sentAt: number; ackedAt: number; stamp: number; lines: Line[] }

const cluster = new BenchCluster()
try {
  const { agents } = await cluster.launch(AGENTS, 'n')
  if (await cluster.waitAllSee(agents, AGENTS, 60_000) === null) throw new Error('the agents did not converge')
  // As in the bench: every agent's event stream is watched while the jobs run.
  const watches = values['no-watch'] ? [] : await Promise.all(agents.map((a) => EventWatch.open(a.api)))
  const jobs: Job[] = []
  try {
    for (let i = 0; i < JOBS; i++) {
      const via = agents[i % agents.length]!
      const w = watches[i % agents.length]
      const s = await submitTimed(via, STAMP_JOB)
      const ended = w === undefined
        ? await pollUntil(async () => (await jobView(via, s.id))?.state === 'succeeded' ? true : undefined, 10_000, 50)
        : await w.waitUntil(() => w.endedAt(s.id)?.at, async () => undefined, 10_000)
      if (ended === null) throw new Error(`job ${s.id} did not end`)
      jobs.push({ id: s.id, via: via.name, ran: '', sentAt: s.sentAt, ackedAt: s.ackedAt, stamp: NaN, lines: [] })
    }
  } finally {
    for (const w of watches) w.close()
  }
  for (const j of jobs) {
    const via = agents.find((a) => a.name === j.via)!
    j.stamp = await startStamp(via, j.id)
    j.ran = (await jobView(via, j.id))?.allocations[0]?.nodeName ?? '?'
  }
  const byPid = new Map(agents.flatMap((a) => [[`${a.child.pid}.trace`, a.name], [`${a.child.pid}.spawner.trace`, `${a.name}/spawner`]]))
  const byPeer = new Map(agents.map((a) => [a.peer.slice(-4), a.name]))
  const lines: Line[] = []
  for (const file of readdirSync(dir)) {
    const who = byPid.get(file)
    if (who === undefined) continue
    for (const l of readFileSync(`${dir}/${file}`, 'utf8').split('\n')) {
      const m = /^(\S+) (.*)$/.exec(l)
      if (m !== null) lines.push({ t: Number(m[1]), who, what: (m[2] as string).replace(/([<>])(\w{4})\b/g, (x, p: string, id: string) => byPeer.has(id) ? `${p}${byPeer.get(id)}` : x) })
    }
  }
  lines.sort((a, b) => a.t - b.t)
  for (const j of jobs) j.lines = lines.filter((l) => l.t >= j.sentAt && l.t <= j.stamp + 2)
  jobs.sort((a, b) => (a.stamp - a.sentAt) - (b.stamp - b.sentAt))
  const timeline = (j: Job): string => [
    `${j.id} via ${j.via}, ran on ${j.ran}: submit->start ${(j.stamp - j.sentAt).toFixed(2)} ms, submit->201 ${(j.ackedAt - j.sentAt).toFixed(2)} ms`,
    '  +0.000 client POST sent',
    ...[...j.lines, { t: j.ackedAt, who: 'client', what: '201 received' }, { t: j.stamp, who: j.ran, what: 'the process\'s start stamp' }]
      .sort((a, b) => a.t - b.t).map((l) => `  +${(l.t - j.sentAt).toFixed(3)} ${l.who} ${l.what}`),
  ].join('\n')
  writeFileSync(`${dir}/timeline.txt`, jobs.map(timeline).join('\n\n') + '\n')
  // The jobs in submit order with their absolute times, for analyses the table does not make.
  writeFileSync(`${dir}/jobs.json`, JSON.stringify([...jobs].sort((a, b) => a.sentAt - b.sentAt).map(({ lines: _, ...j }) => j)) + '\n')
  console.log(`submit->start, ms, sorted: ${jobs.map((j) => (j.stamp - j.sentAt).toFixed(1)).join(' ')}\n`)
  console.log(`the p50 job:\n${timeline(jobs[Math.floor((jobs.length - 1) / 2)]!)}\n`)
  console.log(stageTable(jobs))
  console.log(`\nevery job's timeline: ${dir}/timeline.txt`)
} finally {
  await cluster.stop()
}

/** The median time from the client's send to the first line of each stage, over the jobs that have it. */
function stageTable(all: readonly Job[]): string {
  const stages: Array<[string, (j: Job) => number | undefined]> = [
    ['HTTP request in (API node)', (j) => at(j, / http-in /)],
    ['body validated', (j) => at(j, / http-validated/)],
    ['arbiter step sent the stores', (j) => at(j, /step (api:submit|req:submit-job).*store-job/)],
    ['first store request in (storing node)', (j) => at(j, / channel-request-in .*B$/, / step (api:submit|req:submit-job)/)],
    ['first storing node wrote it', (j) => at(j, / persist-end/, / rpc-in store-job/)],
    ['first store answer at the arbiter', (j) => at(j, / answer store-job/)],
    ['last store answer at the arbiter', (j) => last(j, / answer store-job/)],
    ['start-process called', (j) => at(j, / start-process j-/)],
    ['start-process returned', (j) => at(j, / start-process returned/)],
    ['the spawner has the start', (j) => at(j, / spawner start-in /)],
    ['the spawner\'s spawn() returned', (j) => at(j, / spawner spawn returned /)],
    ['the process\'s start stamp', (j) => j.stamp - j.sentAt],
    ['201 at the client', (j) => j.ackedAt - j.sentAt],
  ]
  return ['median ms after the client sent the POST:', ...stages.map(([name, f]) => {
    const v = all.map(f).filter((x): x is number => x !== undefined).sort((a, b) => a - b)
    return `  ${name.padEnd(40)} ${v.length === 0 ? '-' : (v[Math.floor((v.length - 1) / 2)] as number).toFixed(2)}  (${v.length} jobs)`
  })].join('\n')
}

function at(j: Job, what: RegExp, after?: RegExp): number | undefined {
  const from = after === undefined ? -Infinity : j.lines.find((l) => after.test(` ${l.what}`))?.t
  if (from === undefined) return undefined
  const l = j.lines.find((x) => x.t >= from && what.test(` ${x.what}`))
  return l === undefined ? undefined : l.t - j.sentAt
}

function last(j: Job, what: RegExp): number | undefined {
  const l = j.lines.filter((x) => what.test(` ${x.what}`)).pop()
  return l === undefined ? undefined : l.t - j.sentAt
}
