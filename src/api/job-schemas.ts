// The job routes' inputs: the lenient JobSpec users write (optional fields, defaults filled by
// `normalizeJobSpec`), job ids, and the log query. Every bound is at or inside the wire limits of
// src/gossip/schemas.ts JobSpecSchema, so a spec the API accepts always passes the wire codec.
import { posix } from 'node:path'
import { Type, type Static, type TUnsafe } from '@sinclair/typebox'
import type { JobSpec } from '../core/job-types.js'

/**
 * A string enum as ajv's `enum` keyword (not TypeBox's anyOf of literals), so a bad value is one
 * error that lists the allowed values: `body/type must be one of "batch", "service"`.
 */
function StringEnum<const T extends readonly string[]>(values: T, options: { default?: T[number] } = {}): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options })
}

export const JOB_TYPES = ['batch', 'service'] as const
export const CONSTRAINT_OPS = ['=', '!=', 'in', 'not_in'] as const
export const RECONCILE_MODES = ['keep_original', 'keep_replacement', 'longest_running', 'best_score'] as const
export const LOG_STREAMS = ['stdout', 'stderr'] as const

/** Defaults the API fills in (CONTRACT section 3); each one documented with its reason. */
export const JOB_DEFAULTS = {
  // A tenth of a core and 64 MB fit a shell one-liner and let many small jobs share a node.
  resources: { cpu: 0.1, memoryMb: 64 },
  count: 1,
  type: 'batch',
  // No retries unless asked: re-running a failed batch job is not always safe.
  restart: { attempts: 0, backoffMs: 1000 },
  // 0 = no timeout; services run forever and batch jobs may legitimately be long.
  timeoutMs: 0,
  // Nomad's defaults: a run nobody can see is replaced; at a heal the run that has run longest
  // stays; a cut-off node does not stop its runs by itself.
  disconnect: { replace: true, reconcile: 'longest_running', stopAfterMs: null },
} as const

/** Upper bounds beyond which a number is a typo, not a request. */
const MAX_CPU = 1024
const MAX_MEMORY_MB = 16 * 1024 * 1024 // 16 TiB
const MAX_COUNT = 10_000
const MAX_ATTEMPTS = 1000
const MAX_BACKOFF_MS = 86_400_000 // a day
const MAX_TIMEOUT_MS = 30 * 86_400_000 // 30 days
/** The wire's limit on a job name; a default name taken from a long argv[0] is cut to it. */
export const MAX_NAME_LENGTH = 256

/** The JobSpec as users write it: only `command` is required; unknown fields are refused. */
export const JobSpecInput = Type.Object({
  name: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_NAME_LENGTH })),
  command: Type.Array(Type.String({ minLength: 1, maxLength: 64 * 1024 }), { minItems: 1, maxItems: 1024 }),
  env: Type.Optional(Type.Record(Type.String(), Type.String({ maxLength: 32 * 1024 }), {
    maxProperties: 256,
    // An empty name or one with '=' cannot be passed to a process environment.
    propertyNames: { minLength: 1, maxLength: 256, pattern: '^[^=]+$' },
  })),
  resources: Type.Optional(Type.Object({
    cpu: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: MAX_CPU })),
    memoryMb: Type.Optional(Type.Number({ minimum: 1, maximum: MAX_MEMORY_MB })),
  }, { additionalProperties: false })),
  count: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_COUNT })),
  type: Type.Optional(StringEnum(JOB_TYPES)),
  constraints: Type.Optional(Type.Array(Type.Object({
    label: Type.String({ minLength: 1, maxLength: 128 }),
    op: StringEnum(CONSTRAINT_OPS),
    value: Type.String({ maxLength: 1024 }),
  }, { additionalProperties: false }), { maxItems: 64 })),
  restart: Type.Optional(Type.Object({
    attempts: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_ATTEMPTS })),
    backoffMs: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_BACKOFF_MS })),
  }, { additionalProperties: false })),
  timeoutMs: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_TIMEOUT_MS })),
  disconnect: Type.Optional(Type.Object({
    replace: Type.Optional(Type.Boolean()),
    reconcile: Type.Optional(StringEnum(RECONCILE_MODES)),
    // null or 0: never (a node cut off keeps its runs).
    stopAfterMs: Type.Optional(Type.Union([Type.Integer({ minimum: 0, maximum: MAX_TIMEOUT_MS }), Type.Null()])),
  }, { additionalProperties: false })),
}, { additionalProperties: false })
export type JobSpecInput = Static<typeof JobSpecInput>

export const JobIdParams = Type.Object({
  // The wire's id limit: a longer id names no job.
  id: Type.String({ minLength: 1, maxLength: 128 }),
})
export type JobIdParams = Static<typeof JobIdParams>

export const LogQuery = Type.Object({
  stream: Type.Optional(StringEnum(LOG_STREAMS)),
  index: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_COUNT - 1 })),
  attempt: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })),
  /** Where to start reading; negative = the last -offset bytes. */
  offset: Type.Optional(Type.Integer({ minimum: -Number.MAX_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER })),
  /** Set by a proxying node: answer from this node's disk, never proxy again. */
  local: Type.Optional(StringEnum(['0', '1'])),
}, { additionalProperties: false })
export type LogQuery = Static<typeof LogQuery>

/** A valid input with every default filled in: the full JobSpec the core stores. */
export function normalizeJobSpec(input: JobSpecInput): JobSpec {
  return {
    name: input.name ?? defaultName(input.command),
    command: [...input.command],
    env: { ...input.env },
    resources: {
      cpu: input.resources?.cpu ?? JOB_DEFAULTS.resources.cpu,
      memoryMb: input.resources?.memoryMb ?? JOB_DEFAULTS.resources.memoryMb,
    },
    count: input.count ?? JOB_DEFAULTS.count,
    type: input.type ?? JOB_DEFAULTS.type,
    constraints: (input.constraints ?? []).map((c) => ({ label: c.label, op: c.op, value: c.value })),
    restart: {
      attempts: input.restart?.attempts ?? JOB_DEFAULTS.restart.attempts,
      backoffMs: input.restart?.backoffMs ?? JOB_DEFAULTS.restart.backoffMs,
    },
    timeoutMs: input.timeoutMs ?? JOB_DEFAULTS.timeoutMs,
    disconnect: {
      replace: input.disconnect?.replace ?? JOB_DEFAULTS.disconnect.replace,
      reconcile: input.disconnect?.reconcile ?? JOB_DEFAULTS.disconnect.reconcile,
      stopAfterMs: input.disconnect?.stopAfterMs === 0 ? null : input.disconnect?.stopAfterMs ?? JOB_DEFAULTS.disconnect.stopAfterMs,
    },
  }
}

/** `/usr/bin/python3` -> `python3`; cut to the wire's name limit; `job` if nothing is left. */
export function defaultName(command: readonly string[]): string {
  const first = command[0] ?? ''
  const base = posix.basename(first) || first
  return base.slice(0, MAX_NAME_LENGTH) || 'job'
}
