// The HTTP client the CLI commands share: which node to talk to (--api, MURMUR_API, default),
// the bearer token (--token, MURMUR_API_TOKEN), and API errors turned into one-line CliErrors.
import { CliError, type Env, FlagError, envValue } from './flags.js'

export const DEFAULT_API = 'http://127.0.0.1:7070'

/** parseArgs options every API-talking command accepts. */
export const CLIENT_OPTIONS = {
  api: { type: 'string' },
  token: { type: 'string' },
} as const

export const CLIENT_USAGE = `  --api URL            node to talk to (env MURMUR_API; default ${DEFAULT_API})
  --token TOKEN        API bearer token (env MURMUR_API_TOKEN)`

export interface ApiClientOptions {
  /** Base URL without a trailing slash. */
  baseUrl: string
  token?: string
  /** Per request, for plain calls (not streams); a node that answers slower than this is stuck. */
  timeoutMs?: number
}

/** Resolves the client options from flags, then env, then defaults. */
export function clientOptions(values: { api?: string; token?: string }, env: Env): ApiClientOptions {
  const source = values.api !== undefined ? '--api' : 'MURMUR_API'
  const raw = values.api ?? envValue(env, 'MURMUR_API') ?? DEFAULT_API
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new FlagError(`${source}: '${raw}' is not a URL`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new FlagError(`${source}: '${raw}' is not an http(s) URL`)
  const token = values.token ?? envValue(env, 'MURMUR_API_TOKEN')
  const options: ApiClientOptions = { baseUrl: url.href.replace(/\/+$/, '') }
  if (token !== undefined) options.token = token
  return options
}

export interface RequestOptions {
  body?: unknown
  headers?: Record<string, string>
  signal?: AbortSignal
}

/** A node's HTTP API. Every method throws CliError with a one-line reason on failure. */
export class ApiClient {
  constructor(readonly options: ApiClientOptions) {}

  get<T>(path: string, init: RequestOptions = {}): Promise<T> {
    return this.json<T>('GET', path, init)
  }

  post<T>(path: string, body: unknown, init: RequestOptions = {}): Promise<T> {
    return this.json<T>('POST', path, { ...init, body })
  }

  delete<T>(path: string, init: RequestOptions = {}): Promise<T> {
    return this.json<T>('DELETE', path, init)
  }

  /** A JSON call: the parsed answer of a 2xx (undefined for an empty body). */
  async json<T>(method: string, path: string, init: RequestOptions = {}): Promise<T> {
    const signal = init.signal ?? AbortSignal.timeout(this.options.timeoutMs ?? 30_000)
    const res = await this.fetch(method, path, { ...init, signal })
    const text = await res.text()
    if (text === '') return undefined as T
    try {
      return JSON.parse(text) as T
    } catch {
      throw new CliError(`${method} ${path}: the answer is not JSON`)
    }
  }

  /** The raw 2xx response, for text and streams (logs, events); no timeout unless `signal` has one. */
  async fetch(method: string, path: string, init: RequestOptions = {}): Promise<Response> {
    const url = `${this.options.baseUrl}${path}`
    const headers: Record<string, string> = { accept: 'application/json', ...init.headers }
    if (this.options.token !== undefined) headers['authorization'] = `Bearer ${this.options.token}`
    let body: string | undefined
    if (init.body !== undefined) {
      headers['content-type'] = 'application/json'
      body = JSON.stringify(init.body)
    }
    let res: Response
    try {
      res = await fetch(url, { method, headers, body, signal: init.signal })
    } catch (err) {
      throw new CliError(`cannot reach ${this.options.baseUrl}: ${fetchFailure(err)}`)
    }
    if (!res.ok) throw await errorFrom(res, method, path)
    return res
  }
}

/** `{"error": {"code", "message"}}` -> `<message> (<code>)`; anything else -> the HTTP status. */
async function errorFrom(res: Response, method: string, path: string): Promise<CliError> {
  const text = await res.text().catch(() => '')
  try {
    const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } }
    const { code, message } = parsed.error ?? {}
    if (typeof message === 'string') {
      return new CliError(`${message.replace(/\s*\n\s*/g, ' ')}${typeof code === 'string' ? ` (${code})` : ''}`)
    }
  } catch {
    // not our error shape; fall through
  }
  return new CliError(`${method} ${path}: HTTP ${res.status} ${res.statusText}`.trim())
}

function fetchFailure(err: unknown): string {
  if (err instanceof Error && err.name === 'TimeoutError') return 'timed out'
  const cause = err instanceof Error ? (err.cause as { code?: unknown; message?: unknown } | undefined) : undefined
  if (typeof cause?.code === 'string') return cause.code
  if (typeof cause?.message === 'string') return cause.message
  return err instanceof Error ? err.message : String(err)
}
