// HTTP to one lab agent's API through its bridge's Unix socket (api-bridge.js), with the run's
// API token and a deadline on every request.
import { request } from 'node:http'

/** An API answer: status and the parsed JSON body (or the text, when it is not JSON). */
export interface ApiAnswer<T = unknown> {
  status: number
  body: T
}

/** A request that got no answer in time, or whose connection failed (agent down or frozen). */
export class LabHttpError extends Error {
  override readonly name = 'LabHttpError'
}

export interface ApiTarget {
  socketPath: string
  token: string
  /** For messages: which host this is. */
  host: string
}

export function apiRequest<T = unknown>(target: ApiTarget, method: string, path: string, opts: { body?: unknown; timeoutMs?: number; headers?: Record<string, string> } = {}): Promise<ApiAnswer<T>> {
  const timeoutMs = opts.timeoutMs ?? 5_000
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body)
  return new Promise((resolve, reject) => {
    const req = request({
      socketPath: target.socketPath, method, path,
      headers: {
        authorization: `Bearer ${target.token}`,
        ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
        ...opts.headers,
      },
      timeout: timeoutMs,
    }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        clearTimeout(timer)
        const text = Buffer.concat(chunks).toString('utf8')
        let body: unknown = text
        try {
          body = JSON.parse(text)
        } catch {
          // not JSON (logs, metrics): the text is the body
        }
        resolve({ status: res.statusCode ?? 0, body: body as T })
      })
      res.on('error', (err) => { clearTimeout(timer); reject(new LabHttpError(`${target.host} ${method} ${path}: ${err.message}`)) })
    })
    // `timeout` above is idle time only; this bounds the whole exchange.
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)))
    req.on('error', (err) => { clearTimeout(timer); reject(new LabHttpError(`${target.host} ${method} ${path}: ${err.message}`)) })
    if (payload !== undefined) req.write(payload)
    req.end()
  })
}

/** GET that expects 200 and returns the body; anything else throws with the answer in the message. */
export async function apiGet<T>(target: ApiTarget, path: string, timeoutMs?: number): Promise<T> {
  const res = await apiRequest<T>(target, 'GET', path, timeoutMs === undefined ? {} : { timeoutMs })
  if (res.status !== 200) throw new LabHttpError(`${target.host} GET ${path}: HTTP ${res.status} ${JSON.stringify(res.body)}`)
  return res.body
}
