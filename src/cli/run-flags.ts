// `murmur run` flags -> the JobSpec to POST. Pure: only the fields the user gave are set (the
// API fills the defaults), and every bad value is a FlagError before anything is submitted.
import type { JobSpecInput } from '../api/job-schemas.js'
import { CLIENT_OPTIONS } from './client.js'
import { FlagError, parseFlags, parseInteger, parseKeyValue, parsePositive } from './flags.js'

export const RUN_OPTIONS = {
  ...CLIENT_OPTIONS,
  name: { type: 'string' },
  cpu: { type: 'string' },
  mem: { type: 'string' },
  count: { type: 'string' },
  type: { type: 'string' },
  'label-constraint': { type: 'string', multiple: true },
  env: { type: 'string', multiple: true },
  timeout: { type: 'string' },
  retries: { type: 'string' },
  backoff: { type: 'string' },
  'idempotency-key': { type: 'string' },
  wait: { type: 'boolean' },
  // What a partition does to its runs (the JobSpec's `disconnect`).
  'no-replace': { type: 'boolean' },
  reconcile: { type: 'string' },
  'stop-after': { type: 'string' },
} as const

const RECONCILE = ['keep_original', 'keep_replacement', 'longest_running', 'best_score'] as const

/** What `murmur run` does besides the spec: where to send it and whether to wait. */
export interface RunRequest {
  spec: JobSpecInput
  idempotencyKey?: string
  wait: boolean
  client: { api?: string; token?: string }
}

/**
 * Splits argv into murmur's flags and the job's command: everything after `--`, or else from the
 * first word that is not a flag or a flag's value (so `murmur run ls -l` runs `ls -l`).
 */
export function splitRunArgv(argv: readonly string[]): { flags: string[]; command: string[] } {
  const options: Record<string, { type: string }> = RUN_OPTIONS
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    if (arg === '--') return { flags: argv.slice(0, i), command: argv.slice(i + 1) }
    if (!arg.startsWith('-') || arg === '-') return { flags: argv.slice(0, i), command: argv.slice(i) }
    const name = arg.replace(/^--?/, '')
    // `--cpu 2` consumes the next word; `--cpu=2`, booleans and unknown flags do not.
    if (!name.includes('=') && Object.hasOwn(options, name) && options[name]?.type === 'string') i++
  }
  return { flags: [...argv], command: [] }
}

/** `zone=a` -> op '=', `zone!=a` -> op '!='; the label must be non-empty. */
export function parseConstraint(text: string): { label: string; op: '=' | '!='; value: string } {
  const eq = text.indexOf('=')
  const negated = eq > 0 && text[eq - 1] === '!'
  const label = text.slice(0, negated ? eq - 1 : eq)
  if (eq < 0 || label === '') throw new FlagError(`--label-constraint: '${text}' is not key=value or key!=value`)
  return { label, op: negated ? '!=' : '=', value: text.slice(eq + 1) }
}

/** A number > 0 and <= max; the bounds are the API's, so a bad value never reaches it. */
function parseBounded(text: string, source: string, min: number, max: number, unit: string): number {
  const value = parsePositive(text, source)
  if (value < min || value > max) throw new FlagError(`${source}: '${text}' is not between ${min} and ${max}${unit}`)
  return value
}

/** A duration in seconds (decimals allowed, 0 = none), as whole milliseconds; at most 30 days. */
function parseSeconds(text: string, source: string): number {
  if (/^0+(\.0*)?$/.test(text)) return 0
  // At least 1 ms: a tiny timeout the user asked for must not turn into "no timeout".
  return Math.max(1, Math.round(parseBounded(text, source, 0, 30 * 86_400, ' seconds') * 1000))
}

/** Parses `murmur run` argv into the request; throws FlagError on any bad input. */
export function parseRunArgs(argv: readonly string[]): RunRequest {
  const split = splitRunArgv(argv)
  const { values } = parseFlags({ args: split.flags, options: RUN_OPTIONS, allowPositionals: false })
  if (split.command.length === 0) throw new FlagError('missing the command to run (murmur run [flags] -- CMD [ARGS...])')
  if (split.command.some((a) => a === '')) throw new FlagError('the command has an empty argument')

  const spec: JobSpecInput = { command: split.command }
  if (values.name !== undefined) {
    if (values.name === '') throw new FlagError('--name: must not be empty')
    spec.name = values.name
  }
  if (values.cpu !== undefined || values.mem !== undefined) {
    spec.resources = {}
    if (values.cpu !== undefined) spec.resources.cpu = parseBounded(values.cpu, '--cpu', 0, 1024, ' cpus')
    if (values.mem !== undefined) spec.resources.memoryMb = parseBounded(values.mem, '--mem', 1, 16 * 1024 * 1024, ' MB')
  }
  if (values.count !== undefined) spec.count = parseInteger(values.count, '--count', 1, 10_000)
  if (values.type !== undefined) {
    if (values.type !== 'batch' && values.type !== 'service') throw new FlagError(`--type: '${values.type}' is not batch or service`)
    spec.type = values.type
  }
  if (values['label-constraint'] !== undefined) spec.constraints = values['label-constraint'].map(parseConstraint)
  if (values.env !== undefined) {
    spec.env = {}
    for (const pair of values.env) {
      const [k, v] = parseKeyValue(pair, '--env')
      spec.env[k] = v
    }
  }
  if (values.timeout !== undefined) spec.timeoutMs = parseSeconds(values.timeout, '--timeout')
  if (values.retries !== undefined || values.backoff !== undefined) {
    spec.restart = {}
    if (values.retries !== undefined) spec.restart.attempts = parseInteger(values.retries, '--retries', 0, 1000)
    if (values.backoff !== undefined) spec.restart.backoffMs = parseInteger(values.backoff, '--backoff', 0, 86_400_000)
  }

  if (values['no-replace'] === true || values.reconcile !== undefined || values['stop-after'] !== undefined) {
    spec.disconnect = {}
    if (values['no-replace'] === true) spec.disconnect.replace = false
    if (values.reconcile !== undefined) {
      const mode = values.reconcile
      if (!(RECONCILE as readonly string[]).includes(mode)) throw new FlagError(`--reconcile: '${mode}' is not one of ${RECONCILE.join(', ')}`)
      spec.disconnect.reconcile = mode as (typeof RECONCILE)[number]
    }
    if (values['stop-after'] !== undefined) spec.disconnect.stopAfterMs = parseSeconds(values['stop-after'], '--stop-after')
  }

  const request: RunRequest = { spec, wait: values.wait === true, client: { api: values.api, token: values.token } }
  const key = values['idempotency-key']
  if (key !== undefined) {
    if (key.trim() === '' || key.trim().length > 256) throw new FlagError('--idempotency-key: must be 1-256 characters')
    request.idempotencyKey = key.trim()
  }
  return request
}
