// Following a job from the CLI (`run --wait`, `logs --follow`): poll its status, say what changed,
// and copy an allocation's log as it grows, reading on from the offset each answer gives.
import { setTimeout as sleep } from 'node:timers/promises'
import type { JobStatus } from '../core/job-types.js'
import type { ApiClient } from './client.js'
import { CliError, oneLine } from './flags.js'

export type Allocation = JobStatus['allocations'][number]
export type LogStream = 'stdout' | 'stderr'

/**
 * Between two status polls. A node that does not store the job asks a storing node for each
 * poll, so 250 ms makes `--wait` feel immediate while costing ~4 small requests a second per
 * follower (plus one log read per stream).
 */
export const POLL_MS = 250
/**
 * How long a just-submitted job may be unknown to the node we ask: it is acknowledged once stored
 * on its storing nodes, and a node we ask that is not one of them asks them; one whose view of
 * the members is behind (it just joined) may not find them for a few seconds.
 */
export const UNKNOWN_JOB_GRACE_MS = 10_000
/** A log read is one disk read, perhaps proxied (the node gives up after 5 s): 10 s means stuck. */
const LOG_READ_TIMEOUT_MS = 10_000
/** The server's largest answer; a shorter one means we reached the end of the log for now. */
const MAX_CHUNK_BYTES = 1 << 20
const OFFSET_HEADER = 'x-murmur-log-offset'

const TERMINAL_JOB = new Set(['succeeded', 'failed', 'cancelled'])
const TERMINAL_ALLOC = new Set(['succeeded', 'failed', 'lost', 'cancelled'])

export const isTerminal = (job: JobStatus): boolean => TERMINAL_JOB.has(job.state)

/** Instance `index`'s allocation: attempt `attempt`, or its latest attempt. */
export function allocationOf(job: JobStatus, index: number, attempt?: number): Allocation | undefined {
  let best: Allocation | undefined
  for (const a of job.allocations) {
    if (a.index !== index) continue
    if (attempt !== undefined ? a.attempt === attempt : best === undefined || a.attempt > best.attempt) best = a
  }
  return best
}

/** succeeded 0; cancelled 130 (as Ctrl-C); failed: the last failed attempt's exit code, else 1. */
export function exitCodeOf(job: JobStatus): number {
  if (job.state === 'succeeded') return 0
  if (job.state === 'cancelled') return 130
  const failed = job.allocations.filter((a) => a.state === 'failed')
    .sort((a, b) => (a.finishedAt ?? '').localeCompare(b.finishedAt ?? '') || a.attempt - b.attempt)
  const code = failed.at(-1)?.exitCode
  return typeof code === 'number' && Number.isInteger(code) && code >= 1 && code <= 255 ? code : 1
}

/** The client renders an API error as `<message> (<code>)`; this reads the code back. */
export function apiErrorCode(err: unknown): string | undefined {
  return err instanceof CliError ? /\((\w+)\)$/.exec(err.message)?.[1] : undefined
}

function write(out: NodeJS.WritableStream, data: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => out.write(data, (err) => (err ? reject(err) : resolve())))
}

/** One allocation's log from `offset` on. */
export class LogCursor {
  offset = 0

  constructor(
    private readonly client: ApiClient,
    readonly jobId: string,
    readonly index: number,
    readonly attempt: number | undefined,
    readonly stream: LogStream,
    private readonly out: NodeJS.WritableStream,
  ) {}

  /** Copies everything written since the last call, in chunks of at most 1 MiB. */
  async drain(): Promise<void> {
    for (;;) {
      const params = new URLSearchParams({ stream: this.stream, index: String(this.index), offset: String(this.offset) })
      if (this.attempt !== undefined) params.set('attempt', String(this.attempt))
      const res = await this.client.fetch('GET', `/v1/jobs/${encodeURIComponent(this.jobId)}/logs?${params.toString()}`, {
        headers: { accept: 'text/plain' }, signal: AbortSignal.timeout(LOG_READ_TIMEOUT_MS),
      })
      const data = Buffer.from(await res.arrayBuffer())
      if (data.byteLength > 0) await write(this.out, data)
      const next = Number(res.headers.get(OFFSET_HEADER) ?? NaN)
      this.offset = Number.isSafeInteger(next) && next >= 0 ? next : this.offset + data.byteLength
      if (data.byteLength < MAX_CHUNK_BYTES) return
    }
  }
}

export interface FollowOptions {
  client: ApiClient
  jobId: string
  /** The instance whose output is copied. */
  index: number
  /** Pin one attempt (ends when it does); otherwise follow the latest, switching on a restart. */
  attempt?: number
  /** Where each stream's output goes; streams not listed are not read. */
  outputs: Partial<Record<LogStream, NodeJS.WritableStream>>
  /** One-line notices (stderr), without the `murmur: ` prefix. */
  notice(line: string): void
  /** Report every state change (run --wait), not only restarts (logs --follow). */
  states: boolean
  /** Treat a 404 as "not known here yet" this long (right after a submit). */
  unknownGraceMs?: number
  pollMs?: number
}

const describeAlloc = (id: string, a: Allocation): string => {
  const exit = a.exitCode !== null && a.state !== 'running' ? `, exit ${a.exitCode}` : ''
  const why = a.reason !== undefined ? `: ${a.reason}` : ''
  return `job ${id} ${a.state} on ${a.nodeName || a.nodeId} (instance ${a.index}, attempt ${a.attempt}${exit})${why}`
}

/** Follows the job until it ends (or the pinned attempt does) and its output is copied; returns its last status. */
export async function followJob(opts: FollowOptions): Promise<JobStatus> {
  const { client, jobId, index } = opts
  const unknownUntil = Date.now() + (opts.unknownGraceMs ?? 0)
  let cursors: LogCursor[] = []
  let following: number | undefined
  let lastJob = ''
  let lastAlloc = ''
  let logError: unknown

  const drainAll = async (): Promise<void> => {
    logError = undefined
    for (const cursor of cursors) {
      // A log that is not there yet (not started) or whose node is briefly unreachable is
      // normal while following; the next poll tries again.
      try { await cursor.drain() } catch (err) { logError = err }
    }
  }

  const report = (a: Allocation): void => {
    const line = describeAlloc(jobId, a)
    if (opts.states && line !== lastAlloc) opts.notice(line)
    lastAlloc = line
  }

  for (;;) {
    let job: JobStatus
    try {
      job = await client.get<JobStatus>(`/v1/jobs/${encodeURIComponent(jobId)}`)
    } catch (err) {
      if (apiErrorCode(err) !== 'not_found' || Date.now() >= unknownUntil) throw err
      await sleep(opts.pollMs ?? POLL_MS)
      continue
    }
    const alloc = allocationOf(job, index, opts.attempt)

    if (alloc !== undefined && alloc.attempt !== following) {
      if (following !== undefined) {
        // How the previous attempt ended (a poll may have missed it), and the rest of its output.
        const previous = allocationOf(job, index, following)
        if (previous !== undefined) report(previous)
        await drainAll()
        opts.notice(`job ${jobId} instance ${index} restarted (attempt ${alloc.attempt}); following its output`)
      }
      following = alloc.attempt
      cursors = Object.entries(opts.outputs).map(([stream, out]) =>
        new LogCursor(client, jobId, index, alloc.attempt, stream as LogStream, out))
    }
    if (alloc !== undefined && !isTerminal(job)) report(alloc)
    // After the allocation's line: a job goes back to pending when an attempt ended (backoff).
    // The end is the caller's to report (with the exit code it chose).
    const jobLine = `job ${jobId} ${job.state}${job.pendingReason !== undefined ? `: ${job.pendingReason}` : ''}`
    if (opts.states && jobLine !== lastJob && job.state === 'pending') opts.notice(jobLine)
    lastJob = jobLine
    if (alloc !== undefined && alloc.state !== 'claimed') await drainAll()

    const pinnedDone = opts.attempt !== undefined && alloc !== undefined && TERMINAL_ALLOC.has(alloc.state)
    if (isTerminal(job) || pinnedDone) {
      const code = apiErrorCode(logError)
      // A log that never existed (the process did not start) is explained by the state line.
      if (logError !== undefined && code !== 'no_log' && code !== 'no_allocation') opts.notice(`cannot read the output: ${oneLine(logError)}`)
      return job
    }
    await sleep(opts.pollMs ?? POLL_MS)
  }
}
