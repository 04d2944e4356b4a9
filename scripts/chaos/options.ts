// `npm run chaos` flags -> ChaosOptions, and back (the replay command printed on failure).
// No I/O: parseArgs only reads the argv it is given.
import { parseArgs } from 'node:util'

export interface ChaosOptions {
  /** Agents, each its own OS process. */
  nodes: number
  /** Jobs submitted, spread over the first `submitFraction` of the chaos window. */
  jobs: number
  /** Length of the chaos window (faults are injected during it). */
  seconds: number
  /** Seeds both the fault schedule and the workload. */
  seed: number
  json: boolean
  /** Keep the run directory (agent logs, data dirs, histories) even when every check passed. */
  keep: boolean
  /** Each agent's declared --cpu and --mem: small, so capacity matters. */
  cpu: number
  memoryMb: number
  /** Upper bound on the wait, after the window, for every acked batch job to be terminal. */
  settleSeconds: number
  /** Fraction of jobs that are services (kept running, cancelled at the end). */
  services: number
  /** Batch runs sleep a uniform time in [minSleepMs, maxSleepMs]. */
  minSleepMs: number
  maxSleepMs: number
  /** restart.attempts of each job: how many failed runs an instance may retry. */
  retries: number
  /** At most this many agents down or frozen at once. */
  maxDown: number
  /** Submissions happen in the first this-fraction of the window. */
  submitFraction: number
}

/**
 * The contract promises no loss while fewer than 3 of a job's 3 storing nodes fail together, so
 * at most 2 may be down at once; and at least 3 must stay up so that a submit can still be
 * stored on 3 nodes. N-3 also keeps the 4-node test at one fault at a time.
 */
export function defaultMaxDown(nodes: number): number {
  return Math.max(0, Math.min(2, nodes - 3))
}

export const DEFAULTS = {
  nodes: 5, jobs: 200, seconds: 60, cpu: 2, memoryMb: 2048, settleSeconds: 120, services: 0.05,
  minSleepMs: 500, maxSleepMs: 8000, retries: 1, submitFraction: 0.6,
} as const

export const USAGE = `usage: npm run chaos -- [--nodes 5] [--jobs 200] [--seconds 60] [--seed S] [--json] [--keep]
  [--cpu 2] [--mem 2048] [--settle 120] [--services 0.05] [--min-sleep-ms 500] [--max-sleep-ms 8000]
  [--retries 1] [--max-down min(2,N-3)] [--submit-fraction 0.6]`

function num(raw: string | undefined, flag: string, dflt: number, min: number, max: number, integer = false): number {
  if (raw === undefined) return dflt
  const v = Number(raw)
  if (!Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    throw new Error(`--${flag} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got ${JSON.stringify(raw)}`)
  }
  return v
}

/** Parses argv (without node and script). `randomSeed` is used when --seed is not given. */
export function parseChaosArgs(argv: string[], randomSeed: number): ChaosOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      nodes: { type: 'string' }, jobs: { type: 'string' }, seconds: { type: 'string' }, seed: { type: 'string' },
      json: { type: 'boolean', default: false }, keep: { type: 'boolean', default: false },
      cpu: { type: 'string' }, mem: { type: 'string' }, settle: { type: 'string' }, services: { type: 'string' },
      'min-sleep-ms': { type: 'string' }, 'max-sleep-ms': { type: 'string' }, retries: { type: 'string' },
      'max-down': { type: 'string' }, 'submit-fraction': { type: 'string' },
    },
    strict: true,
  })
  const nodes = num(values.nodes, 'nodes', DEFAULTS.nodes, 3, 20, true)
  const minSleepMs = num(values['min-sleep-ms'], 'min-sleep-ms', DEFAULTS.minSleepMs, 0, 600_000, true)
  const maxSleepMs = num(values['max-sleep-ms'], 'max-sleep-ms', Math.max(DEFAULTS.maxSleepMs, minSleepMs), minSleepMs, 600_000, true)
  return {
    nodes,
    jobs: num(values.jobs, 'jobs', DEFAULTS.jobs, 0, 100_000, true),
    seconds: num(values.seconds, 'seconds', DEFAULTS.seconds, 1, 86_400),
    seed: num(values.seed, 'seed', randomSeed, 0, 2 ** 32 - 1, true),
    json: values.json === true,
    keep: values.keep === true,
    cpu: num(values.cpu, 'cpu', DEFAULTS.cpu, 0.1, 1024),
    memoryMb: num(values.mem, 'mem', DEFAULTS.memoryMb, 64, 16 * 1024 * 1024, true),
    settleSeconds: num(values.settle, 'settle', DEFAULTS.settleSeconds, 1, 3600),
    services: num(values.services, 'services', DEFAULTS.services, 0, 1),
    minSleepMs,
    maxSleepMs,
    retries: num(values.retries, 'retries', DEFAULTS.retries, 0, 1000, true),
    maxDown: num(values['max-down'], 'max-down', defaultMaxDown(nodes), 0, nodes - 1, true),
    submitFraction: num(values['submit-fraction'], 'submit-fraction', DEFAULTS.submitFraction, 0.01, 1),
  }
}

/** The command that replays this run: the seed and every flag that differs from its default. */
export function replayCommand(o: ChaosOptions): string {
  const flags = [`--nodes ${o.nodes}`, `--jobs ${o.jobs}`, `--seconds ${o.seconds}`, `--seed ${o.seed}`]
  const extra: Array<[string, number, number]> = [
    ['cpu', o.cpu, DEFAULTS.cpu], ['mem', o.memoryMb, DEFAULTS.memoryMb], ['settle', o.settleSeconds, DEFAULTS.settleSeconds],
    ['services', o.services, DEFAULTS.services], ['min-sleep-ms', o.minSleepMs, DEFAULTS.minSleepMs],
    ['max-sleep-ms', o.maxSleepMs, DEFAULTS.maxSleepMs], ['retries', o.retries, DEFAULTS.retries],
    ['max-down', o.maxDown, defaultMaxDown(o.nodes)], ['submit-fraction', o.submitFraction, DEFAULTS.submitFraction],
  ]
  for (const [flag, v, d] of extra) if (v !== d) flags.push(`--${flag} ${v}`)
  return `npm run chaos -- ${flags.join(' ')} --keep`
}
