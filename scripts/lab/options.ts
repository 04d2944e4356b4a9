// `npm run lab` flags -> LabRunOptions. No I/O: parseArgs only reads the argv it is given.
import { parseArgs } from 'node:util'
import { MAX_HOSTS } from './names.js'

export interface LabRunOptions {
  /** Hosts started at once, found by mDNS only; the last one is the one cut off. */
  hosts: number
  /** Hosts started after the first ones formed a cluster (timed joining), then stopped. */
  late: number
  /** How long the cut lasts, from the moment the link goes down. */
  cutMs: number
  /** cpu each host declares, and the cut host's (smaller: its side cannot replace the others' runs). */
  cpu: number
  victimCpu: number
  /** cpu of each instance of the service (count = hosts, one per host). */
  jobCpu: number
  /** A `disconnect` block put in the job spec as given (JSON), for the per-job partition policy. */
  disconnect?: unknown
  profile: 'lan' | 'test'
  json: boolean
  keep: boolean
  /** Keep the lab up after the report until Ctrl-C, printing how to reach it. */
  hold: boolean
  /** Only remove the leftovers of earlier runs whose owner is gone, then exit. */
  sweep: boolean
}

export const DEFAULTS = { hosts: 3, late: 1, cutMs: 8_000, cpu: 2, jobCpu: 0.5, profile: 'lan' } as const

export const USAGE = `usage: npm run lab -- [--hosts 3] [--late 1] [--cut-ms 8000] [--cpu 2] [--victim-cpu C]
  [--job-cpu 0.5] [--disconnect JSON] [--profile lan|test] [--json] [--keep] [--hold]
  npm run lab -- --sweep      remove leftovers of earlier runs whose owner died`

function num(raw: string | undefined, flag: string, dflt: number, min: number, max: number, integer = false): number {
  if (raw === undefined) return dflt
  const v = Number(raw)
  if (raw.trim() === '' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    throw new Error(`--${flag} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got ${JSON.stringify(raw)}`)
  }
  return v
}

/** Parses argv (without node and script); throws with the flag at fault. */
export function parseLabArgs(argv: string[]): LabRunOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      hosts: { type: 'string' }, late: { type: 'string' }, 'cut-ms': { type: 'string' }, cpu: { type: 'string' },
      'victim-cpu': { type: 'string' }, 'job-cpu': { type: 'string' }, disconnect: { type: 'string' }, profile: { type: 'string' },
      json: { type: 'boolean', default: false }, keep: { type: 'boolean', default: false }, hold: { type: 'boolean', default: false },
      sweep: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  })
  const hosts = num(values.hosts, 'hosts', DEFAULTS.hosts, 2, 20, true)
  const late = num(values.late, 'late', DEFAULTS.late, 0, 10, true)
  if (hosts + late > MAX_HOSTS) throw new Error(`--hosts plus --late must be at most ${MAX_HOSTS}`)
  const cpu = num(values.cpu, 'cpu', DEFAULTS.cpu, 0.1, 1024)
  const jobCpu = num(values['job-cpu'], 'job-cpu', DEFAULTS.jobCpu, 0.01, 1024)
  const victimCpu = num(values['victim-cpu'], 'victim-cpu', cpu, 0.1, 1024)
  if (jobCpu > cpu || jobCpu > victimCpu) throw new Error('--job-cpu must fit on every host (at most --cpu and --victim-cpu)')
  const profile = values.profile ?? DEFAULTS.profile
  if (profile !== 'lan' && profile !== 'test') throw new Error(`--profile must be lan or test, got ${JSON.stringify(profile)}`)
  let disconnect: unknown
  if (values.disconnect !== undefined) {
    try {
      disconnect = JSON.parse(values.disconnect)
    } catch (err) {
      throw new Error(`--disconnect must be JSON (e.g. '{"stopAfterMs":5000}'): ${err instanceof Error ? err.message : String(err)}`)
    }
  }
  return {
    hosts, late, cutMs: num(values['cut-ms'], 'cut-ms', DEFAULTS.cutMs, 1_000, 600_000, true), cpu, victimCpu, jobCpu,
    ...(disconnect === undefined ? {} : { disconnect }),
    profile, json: values.json === true, keep: values.keep === true, hold: values.hold === true, sweep: values.sweep === true,
  }
}
