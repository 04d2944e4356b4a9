// `murmur agent` flags and MURMUR_* env vars -> a checked AgentConfig. Pure apart from reading
// the swarm key file (to refuse a bad one before anything starts); machine facts come in as an
// argument so tests can pin them.
import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { MAX_CELLS } from '../core/cells.js'
import type { AgentConfig } from '../node/agent-config.js'
import {
  type Env, FlagError, envBoolean, envList, envNameOf, envValue, oneLine, parseFlags, parseInteger,
  parseKeyValue, parsePort, parsePositive,
} from './flags.js'

export { FlagError } from './flags.js'

/** What the defaults depend on: the machine and the user. */
export interface MachineDefaults {
  hostname: string
  homedir: string
  cwd: string
  cpus: number
  memoryMb: number
}

export function machineDefaults(): MachineDefaults {
  return {
    hostname: os.hostname(),
    homedir: os.homedir(),
    cwd: process.cwd(),
    cpus: os.availableParallelism(),
    memoryMb: Math.floor(os.totalmem() / (1024 * 1024)),
  }
}

export const AGENT_OPTIONS = {
  name: { type: 'string' },
  'data-dir': { type: 'string' },
  'p2p-port': { type: 'string' },
  'p2p-host': { type: 'string' },
  'api-port': { type: 'string' },
  'api-host': { type: 'string' },
  join: { type: 'string', multiple: true },
  'no-mdns': { type: 'boolean' },
  cpu: { type: 'string' },
  mem: { type: 'string' },
  label: { type: 'string', multiple: true },
  'swarm-key': { type: 'string' },
  'api-token': { type: 'string' },
  profile: { type: 'string' },
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
  'drain-timeout': { type: 'string' },
  cells: { type: 'string' },
  'job-retention': { type: 'string' },
} as const

export const AGENT_USAGE = `usage: murmur agent [flags]

Runs one murmur node in the foreground. Prints one line
  murmur: ready name=<name> peer=<peerId> api=<url> p2p=<multiaddr>
on stdout once its API serves; logs go to stderr. SIGTERM/SIGINT stop it gracefully:
it drains (its runs move to other nodes, batch runs still going at the drain timeout are
stopped and placed again), then leaves the cluster. A second signal stops it at once.

flags (each also as env MURMUR_<FLAG>, e.g. MURMUR_DATA_DIR; flags win):
  --name NAME          node name (default: the hostname)
  --data-dir DIR       identity and stored jobs (default: ~/.murmur/<name>)
  --p2p-port N         libp2p TCP port, 0 = any (default 7000)
  --p2p-host IP        libp2p listen address (default 127.0.0.1)
  --api-port N         HTTP API port, 0 = any (default 7070)
  --api-host HOST      HTTP API listen address (default 127.0.0.1); any other than a
                       loopback address needs --api-token (the API runs commands)
  --join MULTIADDR     bootstrap peer, ending in /p2p/<peer id>; repeatable
                       (MURMUR_JOIN: comma-separated)
  --no-mdns            no LAN discovery (MURMUR_NO_MDNS=1)
  --cpu N              cpus offered to jobs (default: all)
  --mem MB             memory offered to jobs (default: all)
  --label k=v          node label for constraints; repeatable (MURMUR_LABEL: comma-separated)
  --swarm-key FILE     private network key (make one with: murmur keygen FILE)
  --api-token TOKEN    require Authorization: Bearer TOKEN on the API
  --profile lan|test   failure-detector timing (default lan)
  --log-level LEVEL    fatal|error|warn|info|debug|trace|silent (default info)
  --log-format F       json|pretty|auto (default auto: pretty when stderr is a terminal)
  --drain-timeout S    on SIGTERM/SIGINT, drain for at most S seconds before leaving
                       (default 10; 0 = leave at once, runs are placed again elsewhere)
  --cells N            split the cluster into N cells by hash of node id (1-${MAX_CELLS},
                       default 1); every node of a cluster must be given the same N
  --job-retention D    keep a finished job (record, logs, run directories) this long, then
                       remove it everywhere: 500ms, 90s, 15m, 1h, 7d (default 1h)
`

/** SIGTERM's drain: long enough for service runs to move (about a second each), short enough for init systems (systemd waits 90 s). */
const DEFAULT_DRAIN_TIMEOUT_MS = 10_000
const MAX_DRAIN_TIMEOUT_S = 3_600
/** Nomad's job_gc_threshold is 4 h; an hour keeps what a person just ran without growing for ever. */
const DEFAULT_JOB_RETENTION_MS = 3_600_000
const MAX_JOB_RETENTION_MS = 365 * 86_400_000
const DEFAULT_P2P_PORT = 7000
const DEFAULT_API_PORT = 7070
const DEFAULT_HOST = '127.0.0.1'
const PROFILES = ['lan', 'test'] as const
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']
const LOG_FORMATS = ['auto', 'json', 'pretty'] as const
// Names appear in data-dir paths, log lines and the ready line, so no spaces or slashes.
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/
const LABEL_KEY = /^[A-Za-z0-9]([A-Za-z0-9._/-]{0,126}[A-Za-z0-9])?$/
const MAX_LABEL_VALUE = 256

/**
 * Parses and checks `murmur agent` flags, falling back to MURMUR_* env vars, then defaults.
 * Throws FlagError with a one-line reason naming the flag (or env var) at fault.
 */
export function parseAgentFlags(argv: string[], env: Env, machine: MachineDefaults = machineDefaults()): AgentConfig {
  const { values } = parseFlags({ args: argv, options: AGENT_OPTIONS, allowPositionals: false })

  /** The flag's value, else its env var's, with the name to blame in errors. */
  const pick = (flag: keyof typeof AGENT_OPTIONS): { value: string; source: string } | undefined => {
    const given = values[flag]
    if (typeof given === 'string') return { value: given, source: `--${flag}` }
    const name = envNameOf(flag)
    const fromEnv = envValue(env, name)
    return fromEnv === undefined ? undefined : { value: fromEnv, source: name }
  }
  const pickList = (flag: 'join' | 'label'): { items: string[]; source: string } => {
    const given = values[flag]
    if (given !== undefined && given.length > 0) return { items: given, source: `--${flag}` }
    const name = envNameOf(flag)
    return { items: envList(env, name) ?? [], source: name }
  }

  const nameArg = pick('name')
  const name = nameArg?.value ?? machine.hostname
  if (!NAME.test(name)) {
    throw new FlagError(nameArg === undefined
      ? `the hostname '${name}' is not a usable node name; pass --name`
      : `${nameArg.source}: '${name}' is not a valid name (letters, digits, . _ -; at most 63)`)
  }

  const dataDirArg = pick('data-dir')
  const dataDir = path.resolve(machine.cwd, dataDirArg?.value ?? path.join(machine.homedir, '.murmur', name))

  const portOf = (flag: 'p2p-port' | 'api-port', fallback: number): number => {
    const arg = pick(flag)
    return arg === undefined ? fallback : parsePort(arg.value.trim(), arg.source)
  }
  const p2pPort = portOf('p2p-port', DEFAULT_P2P_PORT)
  const apiPort = portOf('api-port', DEFAULT_API_PORT)

  const p2pHostArg = pick('p2p-host')
  const p2pHost = p2pHostArg?.value.trim() ?? DEFAULT_HOST
  if (isIP(p2pHost) === 0) throw new FlagError(`${p2pHostArg?.source}: '${p2pHost}' is not an IP address`)
  const apiHostArg = pick('api-host')
  const apiHost = apiHostArg?.value.trim() ?? DEFAULT_HOST
  if (!/^[A-Za-z0-9.:-]+$/.test(apiHost)) throw new FlagError(`${apiHostArg?.source}: '${apiHost}' is not a host name or address`)
  if (p2pPort !== 0 && p2pPort === apiPort) {
    throw new FlagError(`--p2p-port and --api-port are both ${p2pPort}; they need different ports`)
  }

  const joinArg = pickList('join')
  const join = joinArg.items.map((addr) => checkJoinAddr(addr.trim(), joinArg.source))

  const noMdns = values['no-mdns'] === true ? true : envBoolean(env, envNameOf('no-mdns')) ?? false

  const cpuArg = pick('cpu')
  const cpu = cpuArg === undefined ? machine.cpus : parsePositive(cpuArg.value.trim(), cpuArg.source)
  const memArg = pick('mem')
  const memoryMb = memArg === undefined ? machine.memoryMb : parseInteger(memArg.value.trim(), memArg.source, 1)

  const labelArg = pickList('label')
  const labels: Record<string, string> = {}
  for (const item of labelArg.items) {
    const [key, value] = parseKeyValue(item.trim(), labelArg.source)
    if (!LABEL_KEY.test(key)) throw new FlagError(`${labelArg.source}: label key '${key}' is not valid (letters, digits, . _ / -)`)
    if (value.length > MAX_LABEL_VALUE || /[\p{Cc}]/u.test(value)) {
      throw new FlagError(`${labelArg.source}: the value of label '${key}' is too long or has control characters`)
    }
    if (Object.hasOwn(labels, key)) throw new FlagError(`${labelArg.source}: label '${key}' given twice`)
    labels[key] = value
  }

  const swarmKeyArg = pick('swarm-key')
  const swarmKeyFile = swarmKeyArg === undefined ? undefined : path.resolve(machine.cwd, swarmKeyArg.value)
  if (swarmKeyFile !== undefined) checkSwarmKeyFile(swarmKeyFile, swarmKeyArg?.source ?? '--swarm-key')

  const apiTokenArg = pick('api-token')
  const apiToken = apiTokenArg?.value
  if (apiToken !== undefined && !/^\S+$/.test(apiToken)) {
    throw new FlagError(`${apiTokenArg?.source}: the token must be non-empty with no spaces`)
  }

  // The API starts processes on this machine for whoever can reach it: reachable from other
  // machines, it must at least ask for a token.
  if (apiToken === undefined && !isLoopbackHost(apiHost)) {
    throw new FlagError(`${apiHostArg?.source ?? '--api-host'}: ${apiHost} is reachable from other machines and the API runs any command on this one; set --api-token (or MURMUR_API_TOKEN) too`)
  }

  const profileArg = pick('profile')
  const profile = profileArg?.value.trim() ?? 'lan'
  if (!isProfile(profile)) throw new FlagError(`${profileArg?.source}: '${profile}' is not a profile (lan, test)`)

  const logLevelArg = pick('log-level')
  const logLevel = logLevelArg?.value.trim().toLowerCase() ?? 'info'
  if (!LOG_LEVELS.includes(logLevel)) throw new FlagError(`${logLevelArg?.source}: '${logLevel}' is not a log level (${LOG_LEVELS.join(', ')})`)

  const logFormatArg = pick('log-format')
  const logFormat = logFormatArg?.value.trim().toLowerCase()
  if (logFormat !== undefined && !isLogFormat(logFormat)) {
    throw new FlagError(`${logFormatArg?.source}: '${logFormat}' is not a log format (${LOG_FORMATS.join(', ')})`)
  }

  const drainArg = pick('drain-timeout')
  const drainTimeoutMs = drainArg === undefined ? DEFAULT_DRAIN_TIMEOUT_MS : parseSeconds(drainArg.value.trim(), drainArg.source)

  const cellsArg = pick('cells')
  const cells = cellsArg === undefined ? 1 : parseInteger(cellsArg.value.trim(), cellsArg.source, 1, MAX_CELLS)

  const retentionArg = pick('job-retention')
  const jobRetentionMs = retentionArg === undefined ? DEFAULT_JOB_RETENTION_MS : parseDuration(retentionArg.value.trim(), retentionArg.source)

  const config: AgentConfig = {
    name, dataDir, p2pPort, p2pHost, apiPort, apiHost, join, mdns: !noMdns, cpu, memoryMb, labels,
    profile, colocated: isLoopback(p2pHost), logLevel, drainTimeoutMs, cells, jobRetentionMs,
  }
  if (swarmKeyFile !== undefined) config.swarmKeyFile = swarmKeyFile
  if (apiToken !== undefined) config.apiToken = apiToken
  if (logFormat !== undefined) config.logFormat = logFormat
  return config
}

function parseSeconds(raw: string, source: string): number {
  const n = Number(raw)
  if (raw === '' || !Number.isFinite(n) || n < 0 || n > MAX_DRAIN_TIMEOUT_S) throw new FlagError(`${source}: '${raw}' is not a number of seconds from 0 to ${MAX_DRAIN_TIMEOUT_S}`)
  return Math.round(n * 1000)
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** A duration such as 500ms, 90s, 15m, 1h or 7d (a bare number is seconds), from 1 ms to a year. */
export function parseDuration(raw: string, source: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(raw)
  const ms = m === null ? NaN : Number(m[1]) * (DURATION_UNITS[m[2] ?? 's'] as number)
  if (!Number.isFinite(ms) || ms < 1 || ms > MAX_JOB_RETENTION_MS) throw new FlagError(`${source}: '${raw}' is not a duration from 1ms to 365d (e.g. 500ms, 90s, 15m, 1h, 7d)`)
  return Math.round(ms)
}

function isLogFormat(value: string): value is NonNullable<AgentConfig['logFormat']> {
  return (LOG_FORMATS as readonly string[]).includes(value)
}

function isProfile(value: string): value is AgentConfig['profile'] {
  return (PROFILES as readonly string[]).includes(value)
}

/** 127.0.0.0/8 and ::1: every peer on such an address is on this machine. */
export function isLoopback(host: string): boolean {
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || host === '::1' || host === '0:0:0:0:0:0:0:1'
}

/** A host only this machine can reach: a loopback address, or `localhost`. */
export function isLoopbackHost(host: string): boolean {
  return isLoopback(host) || host.toLowerCase() === 'localhost'
}

/** A bootstrap address must parse as a multiaddr and name the peer (`/p2p/<peer id>`). */
function checkJoinAddr(addr: string, source: string): string {
  let peer: string | undefined
  try {
    peer = multiaddr(addr).getComponents().find((c) => c.name === 'p2p')?.value
  } catch (err) {
    throw new FlagError(`${source}: '${addr}' is not a multiaddr (${oneLine(err)})`)
  }
  if (peer === undefined) throw new FlagError(`${source}: '${addr}' has no /p2p/<peer id> part`)
  try {
    peerIdFromString(peer)
  } catch {
    throw new FlagError(`${source}: '${peer}' in '${addr}' is not a peer id`)
  }
  return addr
}

/** The file must be readable and look like what @libp2p/pnet's decoder accepts. */
function checkSwarmKeyFile(file: string, source: string): void {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new FlagError(`${source}: cannot read ${file}${code === undefined ? '' : ` (${code})`}`)
  }
  const lines = text.split(/\r\n|\r|\n/)
  if (lines[0] !== '/key/swarm/psk/1.0.0/' || lines[1] !== '/base16/' || !/^[0-9a-fA-F]{64}$/.test(lines[2] ?? '')) {
    throw new FlagError(`${source}: ${file} is not a swarm key (make one with: murmur keygen FILE)`)
  }
}
