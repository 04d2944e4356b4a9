// Checks a LaunchSpec and derives what the process sees: its directory, log paths and env.
// Pure apart from resolveCommand, which looks at the filesystem.
import { accessSync, constants as fsConstants, statSync } from 'node:fs'
import { isAbsolute, join } from 'node:path'
import type { LaunchSpec } from './types.js'

/**
 * `${jobId}.${index}.${attempt}`. The job id may hold dots but starts with a letter or digit, so the
 * whole id is one path segment that can never be `.`, `..` or absolute. 200 characters keeps
 * `<allocationsDir>/<id>/stdout.log` far below PATH_MAX and NAME_MAX (255).
 */
const ALLOCATION_ID = /^([A-Za-z0-9][A-Za-z0-9._-]{0,180})\.(\d{1,9})\.(\d{1,9})$/

/** Used when the agent itself has no PATH: the usual FHS directories. */
const FALLBACK_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
/** C.UTF-8 ships with glibc 2.35+ and musl, and unlike en_US needs no generated locale. */
const FALLBACK_LANG = 'C.UTF-8'

/** POSIX env names; anything else is rejected rather than silently dropped. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

export interface ParsedAllocationId {
  jobId: string
  index: number
  attempt: number
}

/** Splits an allocation id, or returns null if it is not a safe `${jobId}.${index}.${attempt}`. */
export function parseAllocationId(allocationId: string): ParsedAllocationId | null {
  const m = ALLOCATION_ID.exec(allocationId)
  if (!m || m[1] === undefined || m[2] === undefined || m[3] === undefined) return null
  return { jobId: m[1], index: Number(m[2]), attempt: Number(m[3]) }
}

export function allocationDir(allocationsDir: string, allocationId: string): string {
  return join(allocationsDir, allocationId)
}

export function allocationLogPath(allocationsDir: string, allocationId: string, stream: 'stdout' | 'stderr'): string {
  return join(allocationDir(allocationsDir, allocationId), `${stream}.log`)
}

/** Returns why the spec cannot run, or null when it is fine. */
export function checkLaunchSpec(spec: LaunchSpec): string | null {
  if (!parseAllocationId(spec.allocationId)) {
    return `allocationId ${JSON.stringify(spec.allocationId)} is not a safe "<jobId>.<index>.<attempt>"`
  }
  if (!Array.isArray(spec.command) || spec.command.length === 0) return 'command must be a non-empty argv'
  for (const arg of spec.command) {
    if (typeof arg !== 'string' || arg.includes('\0')) return 'command arguments must be strings without NUL bytes'
  }
  if (spec.command[0] === '') return 'command[0] must not be empty'
  for (const [name, value] of Object.entries(spec.env)) {
    if (!ENV_NAME.test(name)) return `env name ${JSON.stringify(name)} is not a valid variable name`
    if (typeof value !== 'string' || value.includes('\0')) return `env ${name} must be a string without NUL bytes`
  }
  if (!(Number.isFinite(spec.memoryMb) && spec.memoryMb > 0)) return 'memoryMb must be a positive number'
  if (!(Number.isFinite(spec.cpu) && spec.cpu >= 0)) return 'cpu must be a non-negative number'
  if (!(Number.isFinite(spec.timeoutMs) && spec.timeoutMs >= 0)) return 'timeoutMs must be >= 0 (0 = none)'
  return null
}

/**
 * The process env: a minimal base (not the agent's env: no agent secrets or tokens leak into jobs),
 * then the job's own variables, then MURMUR_* last so a job cannot fake its own identity.
 * HOME is the allocation directory, so tools that write to ~ stay inside the allocation.
 */
export function buildEnv(spec: LaunchSpec, dir: string, agentEnv: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const parsed = parseAllocationId(spec.allocationId)
  if (!parsed) throw new Error(`invalid allocationId ${spec.allocationId}`)
  return {
    PATH: agentEnv.PATH ?? FALLBACK_PATH,
    HOME: dir,
    LANG: agentEnv.LANG ?? FALLBACK_LANG,
    ...spec.env,
    MURMUR_JOB_ID: parsed.jobId,
    MURMUR_ALLOC_ID: spec.allocationId,
    MURMUR_ALLOC_INDEX: String(parsed.index),
    MURMUR_ATTEMPT: String(parsed.attempt),
    MURMUR_ALLOC_DIR: dir,
  }
}

/**
 * Finds argv[0] the way execvp would (a name with a slash is taken as a path, relative to cwd),
 * or returns null. Used where the process is started through a gate shell, whose failed `exec`
 * would otherwise look like the job exiting 127.
 */
export function resolveCommand(file: string, pathVar: string, cwd: string): string | null {
  const candidates = file.includes('/')
    ? [isAbsolute(file) ? file : join(cwd, file)]
    : pathVar.split(':').map((d) => join(d === '' ? cwd : d, file))
  for (const candidate of candidates) {
    try {
      if (!statSync(candidate).isFile()) continue
      accessSync(candidate, fsConstants.X_OK)
      return candidate
    } catch {
      // not here: try the next PATH entry
    }
  }
  return null
}
