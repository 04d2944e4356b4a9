// GET /v1/jobs/:id/logs, the parts behind the route: which allocation a query means, reading it
// from this node's disk, and proxying to the node that ran it (the logs live only there).
import type { JobStatus } from '../core/job-types.js'
import type { AgentView } from './agent-view.js'
import { ApiError } from './errors.js'
import type { LogQuery } from './job-schemas.js'

/** The header that says where the next read starts (`?offset=`), so clients can follow a log. */
export const LOG_OFFSET_HEADER = 'x-murmur-log-offset'
/** Most bytes one answer carries; a client reads on from the offset header for more. */
export const MAX_LOG_READ_BYTES = 1 << 20
/**
 * How long a proxied read may take. The other node reads at most 1 MiB from its own disk, which
 * takes milliseconds; one that has not answered in 5 s is stuck or gone, and a following client
 * asks again anyway. Short enough that `murmur logs` reports a dead node instead of hanging.
 */
export const LOG_PROXY_TIMEOUT_MS = 5_000

type Allocation = JobStatus['allocations'][number]

/** The allocation a log query means: instance `index` (default 0), `attempt` (default the latest). */
export function pickAllocation(job: JobStatus, index: number, attempt: number | undefined): Allocation {
  let best: Allocation | undefined
  for (const a of job.allocations) {
    if (a.index !== index) continue
    if (attempt !== undefined ? a.attempt === attempt : best === undefined || a.attempt > best.attempt) best = a
  }
  if (best !== undefined) return best
  const what = attempt === undefined ? `instance ${index}` : `attempt ${attempt} of instance ${index}`
  const why = job.state === 'pending' && job.pendingReason !== undefined ? ` (pending: ${job.pendingReason})` : ''
  throw new ApiError(404, 'no_allocation', `job ${job.id} has no allocation for ${what} yet${why}`,
    { job: job.id, index, ...(attempt === undefined ? {} : { attempt }) })
}

/** What the route sends: status, content type, body and the offset header when there is one. */
export interface LogAnswer {
  status: number
  contentType: string
  body: Buffer
  offset?: string
}

const TEXT = 'text/plain; charset=utf-8'

/** Reads the allocation's log from this node's disk. */
export async function readLocal(view: AgentView, job: JobStatus, alloc: Allocation, stream: 'stdout' | 'stderr', offset: number): Promise<LogAnswer> {
  // The execution layer names an allocation `${jobId}.${index}.${attempt}` (core/job-status.ts).
  const chunk = await view.readLocalLog(`${job.id}.${alloc.index}.${alloc.attempt}`, stream, offset, MAX_LOG_READ_BYTES)
  if (chunk === undefined) {
    throw new ApiError(404, 'no_log', `no ${stream} log for job ${job.id} instance ${alloc.index} attempt ${alloc.attempt} on ${view.name}`
      + (alloc.state === 'claimed' ? ' (not started yet)' : ''), { job: job.id, index: alloc.index, attempt: alloc.attempt, node: view.nodeId })
  }
  return { status: 200, contentType: TEXT, body: chunk.data, offset: String(chunk.next) }
}

/**
 * Asks the node that ran the allocation for its log (`local=1`, so it never proxies on), with
 * the caller's Authorization header: every node of a cluster shares one API token. Its answer,
 * success or error, is relayed as it is; only an unknown or unreachable node is our own 502.
 */
export async function readRemote(view: AgentView, job: JobStatus, alloc: Allocation, query: LogQuery & { stream: string },
  authorization: string | undefined): Promise<LogAnswer> {
  const target = view.node(alloc.nodeId)
  const where = `node ${alloc.nodeName || alloc.nodeId}`
  const unavailable = (why: string): ApiError => new ApiError(502, 'log_unavailable',
    `cannot read the log of job ${job.id} from ${where}: ${why}`, { node: alloc.nodeId, nodeName: alloc.nodeName })
  if (target === undefined || target.api === '') throw unavailable('node unknown to this node')

  const params = new URLSearchParams({ stream: query.stream, index: String(alloc.index), attempt: String(alloc.attempt), local: '1' })
  if (query.offset !== undefined) params.set('offset', String(query.offset))
  const url = `${target.api.replace(/\/+$/, '')}/v1/jobs/${encodeURIComponent(job.id)}/logs?${params.toString()}`
  const headers: Record<string, string> = { accept: 'text/plain, application/json' }
  if (authorization !== undefined) headers['authorization'] = authorization

  let res: Response
  let body: Buffer
  try {
    res = await fetch(url, { headers, signal: AbortSignal.timeout(LOG_PROXY_TIMEOUT_MS) })
    body = Buffer.from(await res.arrayBuffer())
  } catch (err) {
    throw unavailable(`${target.api} ${failure(err)}`)
  }
  // A node answers at most MAX_LOG_READ_BYTES of log, or a short error; more is not a murmur node.
  if (body.byteLength > MAX_LOG_READ_BYTES + 64 * 1024) throw unavailable(`${target.api} sent an oversized answer`)
  const answer: LogAnswer = { status: res.status, contentType: res.headers.get('content-type') ?? TEXT, body }
  const offset = res.headers.get(LOG_OFFSET_HEADER)
  if (offset !== null) answer.offset = offset
  return answer
}

function failure(err: unknown): string {
  if (err instanceof Error && err.name === 'TimeoutError') return `did not answer within ${LOG_PROXY_TIMEOUT_MS} ms`
  const cause = err instanceof Error ? (err.cause as { code?: unknown } | undefined) : undefined
  if (typeof cause?.code === 'string') return `is unreachable (${cause.code})`
  return `is unreachable (${err instanceof Error ? err.message : String(err)})`
}
