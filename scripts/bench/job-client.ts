// Jobs through the HTTP API, timed. The latency jobs run `date +%s%N`: the job's own process
// writes the wall-clock time it began to its stdout, which is read back through the logs API after
// the run. That is the moment the job's process really started (after the agent spawned it and,
// in cgroup mode, released its gate), on the same clock as the bench: every process here runs on
// one machine and reads the same CLOCK_REALTIME. bench/README.md says why this and not the
// record's `startedAt`.
import { Agent, request } from 'node:http'
import { nowMs } from './clock.js'
import type { AgentProc } from './cluster.js'

/**
 * Submits go through node:http with one keep-alive agent, as a client that submits often would
 * (and as `murmur run` does not need to: it submits once). fetch (undici) cost the bench ~0.5 ms
 * more per request here, and the submit is timed (bench/README.md, "The client").
 */
const keepAlive = new Agent({ keepAlive: true })

/** POST a JSON body; resolves when the answer's headers are in (`at`), with its status and body. */
function postJson(url: string, body: string, timeoutMs: number): Promise<{ at: number; status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: 'POST', agent: keepAlive, timeout: timeoutMs,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      const at = nowMs()
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ at, status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)))
    req.on('error', reject)
    req.end(body)
  })
}

/** A trivial job for throughput and memory figures. */
export const TRUE_JOB = { command: ['true'], resources: { cpu: 0.1, memoryMb: 16 } }
/** A trivial job that reports when its process began. */
export const STAMP_JOB = { command: ['date', '+%s%N'], resources: { cpu: 0.1, memoryMb: 16 } }

export interface Submitted {
  id: string
  via: AgentProc
  /** Epoch ms (fractional) just before the POST was sent, and when its 201 arrived. */
  sentAt: number
  ackedAt: number
}

/** Allocation fields the bench reads (CONTRACT section 3, JobStatus). */
export interface AllocView { index: number; attempt: number; nodeName: string; state: string; startedAt: string | null; finishedAt: string | null }
export interface JobView { id: string; state: string; allocations: AllocView[]; storedOn?: string[] }

/** POST /v1/jobs, timed from just before the request is made to its answer's headers; throws unless 201. */
export async function submitTimed(via: AgentProc, spec: unknown): Promise<Submitted> {
  const payload = JSON.stringify(spec)
  const sentAt = nowMs()
  const res = await postJson(`${via.api}/v1/jobs`, payload, 30_000)
  let body: { id?: string }
  try {
    body = JSON.parse(res.text) as { id?: string }
  } catch {
    body = {}
  }
  if (res.status !== 201 || typeof body.id !== 'string') throw new Error(`submit via ${via.name}: ${res.status} ${res.text.slice(0, 300)}`)
  return { id: body.id, via, sentAt, ackedAt: res.at }
}

export async function jobView(via: AgentProc, id: string): Promise<JobView | undefined> {
  const res = await fetch(`${via.api}/v1/jobs/${id}`, { signal: AbortSignal.timeout(5_000) })
  if (res.status === 404) return undefined
  if (!res.ok) throw new Error(`GET job ${id} via ${via.name}: ${res.status}`)
  return await res.json() as JobView
}

/** The epoch ms (fractional) a STAMP_JOB's process wrote, read through the logs API. */
export async function startStamp(via: AgentProc, id: string): Promise<number> {
  const res = await fetch(`${via.api}/v1/jobs/${id}/logs?stream=stdout`, { signal: AbortSignal.timeout(5_000) })
  const text = (await res.text()).trim()
  if (!res.ok || !/^\d{19}$/.test(text)) throw new Error(`job ${id}: no start stamp in its output (${res.status} ${JSON.stringify(text.slice(0, 80))})`)
  const ns = BigInt(text)
  return Number(ns / 1000n) / 1000
}

/** Runs `fn` over `items` with at most `limit` at once; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length)
  let next = 0
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i] as T, i)
    }
  }))
  return out
}
