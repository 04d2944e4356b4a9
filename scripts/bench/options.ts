// `npm run bench` flags -> BenchOptions. No I/O: parseArgs only reads the argv it is given.
// Quick mode keeps every measurement but runs each fewer times on smaller sizes, so that the
// whole bench fits in under three minutes on two shared cores.
import { parseArgs } from 'node:util'

/** The measurements, in the order the bench runs them. */
export const MEASUREMENTS = ['placement', 'idle', 'latency', 'messages', 'loaded', 'throughput', 'failover', 'join', 'rss'] as const
export type MeasurementName = (typeof MEASUREMENTS)[number]

export interface BenchOptions {
  quick: boolean
  json: boolean
  /** Measurements to run; the others report null. */
  only: ReadonlySet<MeasurementName>
  /** How many sequential runs each measurement makes (each figure is the median over them). */
  runs: number
  /** Agents of the shared cluster (idle, latency, messages, loaded, throughput, failover). */
  agents: number
  /** Cluster sizes for join convergence and detection at size. */
  joinSizes: number[]
  /** A join size not converged this long after launch is reported as not converged. */
  joinLimitMs: number
  /** SIGKILLs per join run (detection at that size). */
  joinKills: number
  /** Jobs per latency run (one client, one job at a time). */
  latencyJobs: number
  /** Jobs per loaded run, and its clients (each one job at a time). */
  loadedJobs: number
  loadedClients: number
  /** Jobs per throughput run (and `true` spawns for the bare figure), and the submitters. */
  throughputJobs: number
  throughputClients: number
  /** Jobs per messages run, and the idle window (once per bench) that gives the background rate. */
  messagesJobs: number
  backgroundMs: number
  /** Idle sampling: windows per run are `runs`; each window lasts this long. */
  idleWindowMs: number
  /** The first idle window starts this long after the shared cluster converged (see measure-idle.ts). */
  idleSettleMs: number
  /** SIGKILL rounds per failover run, and services running on the cluster. */
  failoverRounds: number
  services: number
  /** Also time SIGSTOP failover (full mode). */
  failoverStop: boolean
  /** rssMbAfterJobs: jobs in all, and the checkpoint the final RSS is compared with. */
  rssJobs: number
  rssCheckpoint: number
  /** Passed as --job-retention when the agent knows that flag. */
  retention: string
  /** Placement: how long one run ranks for. */
  placementMs: number
  /** Where results.json goes. */
  out: string
}

export const USAGE = `usage: npm run bench -- [--quick] [--json] [--only a,b] [--runs N] [--out FILE]
  [--agents 5] [--sizes 3,10,30,50] [--join-limit-s 120] [--kills 3]
  [--latency-jobs N] [--loaded-jobs N] [--clients 8] [--throughput-jobs N] [--messages-jobs N] [--background-s S]
  [--idle-s S] [--idle-settle-s S] [--rounds N] [--services 10] [--no-stop] [--rss-jobs 20000] [--rss-checkpoint 2000]
  [--retention 60s] [--placement-ms 1000]
measurements (--only): ${MEASUREMENTS.join(', ')} (jobs = latency,loaded,throughput; resched = failover)`

const FULL = {
  runs: 3, joinSizes: [3, 10, 30, 50], joinLimitMs: 120_000, joinKills: 3, latencyJobs: 100, loadedJobs: 400,
  throughputJobs: 1000, messagesJobs: 40, backgroundMs: 15_000, idleWindowMs: 20_000, idleSettleMs: 60_000, failoverRounds: 10,
  rssJobs: 20_000, rssCheckpoint: 2_000, placementMs: 1_000, failoverStop: true,
}
const QUICK: typeof FULL = {
  runs: 3, joinSizes: [3, 10], joinLimitMs: 45_000, joinKills: 1, latencyJobs: 20, loadedJobs: 40,
  throughputJobs: 80, messagesJobs: 9, backgroundMs: 5_000, idleWindowMs: 4_000, idleSettleMs: 5_000, failoverRounds: 1,
  rssJobs: 400, rssCheckpoint: 40, placementMs: 500, failoverStop: false,
}

function int(raw: string | undefined, flag: string, dflt: number, min: number, max: number): number {
  if (raw === undefined) return dflt
  const v = Number(raw)
  if (!Number.isInteger(v) || v < min || v > max) throw new Error(`--${flag} must be an integer in [${min}, ${max}], got ${JSON.stringify(raw)}`)
  return v
}

function sizes(raw: string | undefined, dflt: number[]): number[] {
  if (raw === undefined) return dflt
  const xs = raw.split(',').map((s) => Number(s.trim()))
  if (xs.length === 0 || xs.some((x) => !Number.isInteger(x) || x < 2 || x > 200)) throw new Error(`--sizes must be integers in [2, 200], comma-separated, got ${JSON.stringify(raw)}`)
  return [...new Set(xs)].sort((a, b) => a - b)
}

/** Names the bench took before it was split per measurement, as the README's commands use them. */
const ALIASES: Record<string, MeasurementName[]> = { jobs: ['latency', 'loaded', 'throughput'], resched: ['failover'] }

function only(raw: string | undefined): ReadonlySet<MeasurementName> {
  if (raw === undefined) return new Set(MEASUREMENTS)
  const names = raw.split(',').map((s) => s.trim()).filter((s) => s !== '').flatMap((s) => ALIASES[s] ?? [s])
  const bad = names.filter((n) => !(MEASUREMENTS as readonly string[]).includes(n))
  if (names.length === 0 || bad.length > 0) throw new Error(`--only takes names from ${MEASUREMENTS.join(', ')}; got ${JSON.stringify(raw)}`)
  return new Set(names as MeasurementName[])
}

/** Parses argv (without node and script); throws an Error naming the bad flag. */
export function parseBenchArgs(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false }, json: { type: 'boolean', default: false }, only: { type: 'string' },
      runs: { type: 'string' }, out: { type: 'string' }, agents: { type: 'string' }, sizes: { type: 'string' },
      'join-limit-s': { type: 'string' }, kills: { type: 'string' }, 'latency-jobs': { type: 'string' },
      'loaded-jobs': { type: 'string' }, clients: { type: 'string' }, 'throughput-jobs': { type: 'string' },
      'messages-jobs': { type: 'string' }, 'background-s': { type: 'string' }, 'idle-s': { type: 'string' }, 'idle-settle-s': { type: 'string' }, rounds: { type: 'string' },
      services: { type: 'string' }, 'no-stop': { type: 'boolean', default: false }, 'rss-jobs': { type: 'string' },
      'rss-checkpoint': { type: 'string' }, retention: { type: 'string' }, 'placement-ms': { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  })
  const d = values.quick === true ? QUICK : FULL
  const rssJobs = int(values['rss-jobs'], 'rss-jobs', d.rssJobs, 1, 1_000_000)
  const retention = values.retention ?? '60s'
  if (!/^\d+(ms|s|m|h)$/.test(retention)) throw new Error(`--retention must be a duration like 60s, got ${JSON.stringify(retention)}`)
  return {
    quick: values.quick === true,
    json: values.json === true,
    only: only(values.only),
    runs: int(values.runs, 'runs', d.runs, 1, 100),
    agents: int(values.agents, 'agents', 5, 3, 50),
    joinSizes: sizes(values.sizes, d.joinSizes),
    joinLimitMs: int(values['join-limit-s'], 'join-limit-s', d.joinLimitMs / 1000, 5, 3600) * 1000,
    joinKills: int(values.kills, 'kills', d.joinKills, 0, 50),
    latencyJobs: int(values['latency-jobs'], 'latency-jobs', d.latencyJobs, 1, 100_000),
    loadedJobs: int(values['loaded-jobs'], 'loaded-jobs', d.loadedJobs, 1, 100_000),
    loadedClients: int(values.clients, 'clients', 8, 1, 256),
    throughputJobs: int(values['throughput-jobs'], 'throughput-jobs', d.throughputJobs, 1, 1_000_000),
    throughputClients: int(values.clients, 'clients', 8, 1, 256),
    messagesJobs: int(values['messages-jobs'], 'messages-jobs', d.messagesJobs, 1, 10_000),
    backgroundMs: int(values['background-s'], 'background-s', d.backgroundMs / 1000, 1, 3600) * 1000,
    idleWindowMs: int(values['idle-s'], 'idle-s', d.idleWindowMs / 1000, 1, 3600) * 1000,
    idleSettleMs: int(values['idle-settle-s'], 'idle-settle-s', d.idleSettleMs / 1000, 0, 3600) * 1000,
    failoverRounds: int(values.rounds, 'rounds', d.failoverRounds, 1, 1000),
    services: int(values.services, 'services', 10, 1, 1000),
    failoverStop: d.failoverStop && values['no-stop'] !== true,
    rssJobs,
    rssCheckpoint: int(values['rss-checkpoint'], 'rss-checkpoint', Math.min(d.rssCheckpoint, rssJobs), 1, rssJobs),
    retention,
    placementMs: int(values['placement-ms'], 'placement-ms', d.placementMs, 10, 600_000),
    out: values.out ?? 'bench/results.json',
  }
}
