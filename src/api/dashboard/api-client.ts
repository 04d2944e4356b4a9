// Every call the page makes to the API goes through here: the bearer token on each request (never
// in a URL), the API's own words when it refuses, and the failover: when the agent in use stops
// answering, the client asks the other members it knows of (from /v1/nodes) and carries on through
// the first one that answers, without a reload. Those members are other origins; their APIs accept
// this page through CORS because its origin is a member's API URL (src/api/cors.ts).
import { readApiError } from './wire.js'

/** The API answered with an error; `message` is the API's own wording. */
export class ApiFailure extends Error {
  override readonly name = 'ApiFailure'
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message)
  }
}

/** No member answered (the one in use died, and so did or do the others, or none is known). */
export class Unreachable extends Error {
  override readonly name = 'Unreachable'
}

/** A member the page may switch to. */
export interface Member { name: string; api: string; state: string }

/** The agent the page talks to: its API origin and, once known, its node name. */
export interface Endpoint { base: string; name: string }

/** What the connection listeners hear: the page moved from one agent to another. */
export interface Switch { from: Endpoint; to: Endpoint; at: Date; why: string }

/** Most requests are small reads on a LAN; a node that takes longer than this is in trouble. */
const REQUEST_TIMEOUT_MS = 8_000
/** A submit waits until the job is on disk on its storing nodes (seconds in a busy cluster). */
export const SUBMIT_TIMEOUT_MS = 30_000
/** The health probe of a failover candidate: a live agent answers in milliseconds. */
const PROBE_TIMEOUT_MS = 1_500
const TOKEN_KEY = 'murmur.apiToken'

export class ApiClient {
  /** The page's own origin: the agent that served it. */
  readonly home: string
  private endpoint: Endpoint
  private token: string | undefined
  private members: Member[] = []
  private switching: Promise<boolean> | undefined
  private readonly switchListeners = new Set<(s: Switch) => void>()
  private readonly unauthorizedListeners = new Set<(f: ApiFailure) => void>()

  constructor(home: string) {
    this.home = home
    this.endpoint = { base: home, name: '' }
    // Kept for this tab only (sessionStorage): a reload keeps it, a new tab asks again.
    this.token = sessionStorage.getItem(TOKEN_KEY) ?? undefined
  }

  get current(): Endpoint { return this.endpoint }
  get hasToken(): boolean { return this.token !== undefined }

  setToken(token: string | undefined): void {
    this.token = token
    if (token === undefined) sessionStorage.removeItem(TOKEN_KEY)
    else sessionStorage.setItem(TOKEN_KEY, token)
  }

  /** The members to fail over to, from the latest /v1/nodes answer. */
  setMembers(members: Member[]): void {
    this.members = members.filter((m) => m.api !== '')
    const self = this.members.find((m) => originOf(m.api) === this.endpoint.base)
    if (self !== undefined) this.endpoint = { ...this.endpoint, name: self.name }
  }

  setName(name: string): void {
    this.endpoint = { ...this.endpoint, name }
  }

  onSwitch(listener: (s: Switch) => void): void { this.switchListeners.add(listener) }
  onUnauthorized(listener: (f: ApiFailure) => void): void { this.unauthorizedListeners.add(listener) }

  /** GET/POST/DELETE returning parsed JSON (undefined for an empty body). */
  async json(path: string, init: RequestInit = {}, timeoutMs = REQUEST_TIMEOUT_MS): Promise<unknown> {
    const res = await this.request(path, init, timeoutMs)
    const text = await res.text()
    return text === '' ? undefined : JSON.parse(text) as unknown
  }

  /**
   * A request to the agent in use; on a network failure, fails over and tries once more there.
   * Resolves with a 2xx response; an error answer throws ApiFailure with the API's message.
   * `timeoutMs` bounds the wait for the response headers (null: no bound, for streams).
   */
  async request(path: string, init: RequestInit = {}, timeoutMs: number | null = REQUEST_TIMEOUT_MS): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      const base = this.endpoint.base
      try {
        return await this.checked(await this.fetchAt(base, path, init, timeoutMs))
      } catch (err) {
        if (err instanceof ApiFailure || init.signal?.aborted === true) throw err
        if (attempt > 0 || !(await this.failover(`${describe(err)}`, base))) {
          throw new Unreachable(`${this.endpoint.name || this.endpoint.base} did not answer: ${describe(err)}`)
        }
      }
    }
  }

  /**
   * Moves to another member when the one in use (still `failedBase`) stops answering; concurrent
   * callers share one attempt. Resolves true when some member answers (possibly the same one).
   */
  failover(why: string, failedBase = this.endpoint.base): Promise<boolean> {
    if (this.endpoint.base !== failedBase) return Promise.resolve(true)
    this.switching ??= this.findAnother(why).finally(() => { this.switching = undefined })
    return this.switching
  }

  /** Whether the agent in use answers its health check now. */
  async healthy(): Promise<boolean> {
    try {
      const res = await this.fetchAt(this.endpoint.base, '/v1/health', {}, PROBE_TIMEOUT_MS)
      if (res.status === 401) await this.checked(res)
      return res.ok
    } catch (err) {
      if (err instanceof ApiFailure) throw err
      return false
    }
  }

  private async findAnother(why: string): Promise<boolean> {
    const from = this.endpoint
    // Live members first, the page's own agent last but still tried (it may be back).
    const rank = (m: Member): number => m.state === 'alive' ? 0 : m.state === 'draining' ? 1 : m.state === 'suspect' ? 2 : 3
    const seen = new Set<string>([from.base])
    const candidates: Endpoint[] = []
    for (const m of [...this.members].sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name))) {
      const base = originOf(m.api)
      if (base === '' || seen.has(base)) continue
      seen.add(base)
      candidates.push({ base, name: m.name })
    }
    if (!seen.has(this.home)) candidates.push({ base: this.home, name: '' })
    for (const to of candidates) {
      try {
        const res = await this.fetchAt(to.base, '/v1/health', {}, PROBE_TIMEOUT_MS)
        if (!res.ok && res.status !== 401) continue
        const health = res.ok ? await res.json() as { name?: unknown } : {}
        this.endpoint = { base: to.base, name: typeof health.name === 'string' ? health.name : to.name }
        for (const listener of this.switchListeners) listener({ from, to: this.endpoint, at: new Date(), why })
        return true
      } catch { /* that one is down too: try the next */ }
    }
    return false
  }

  /** A fetch whose wait for the response headers is bounded by `timeoutMs` (the body is not: streams). */
  private async fetchAt(base: string, path: string, init: RequestInit, timeoutMs: number | null): Promise<Response> {
    const headers = new Headers(init.headers)
    if (!headers.has('accept')) headers.set('accept', 'application/json')
    if (this.token !== undefined) headers.set('authorization', `Bearer ${this.token}`)
    const controller = new AbortController()
    const outer = init.signal
    const onAbort = (): void => controller.abort(outer?.reason)
    if (outer !== undefined && outer !== null) {
      if (outer.aborted) onAbort()
      else outer.addEventListener('abort', onAbort, { once: true })
    }
    const timer = timeoutMs === null ? undefined
      : setTimeout(() => controller.abort(new DOMException('no answer in time', 'TimeoutError')), timeoutMs)
    try {
      return await fetch(`${base}${path}`, { ...init, headers, signal: controller.signal, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' })
    } finally {
      clearTimeout(timer)
    }
  }

  private async checked(res: Response): Promise<Response> {
    if (res.ok) return res
    let body: unknown
    const text = await res.text().catch(() => '')
    try { body = JSON.parse(text) } catch { body = undefined }
    const error = readApiError(body)
    const failure = new ApiFailure(res.status, error?.code ?? `http_${res.status}`, error?.message ?? (text.trim() || `HTTP ${res.status}`))
    if (res.status === 401) for (const listener of this.unauthorizedListeners) listener(failure)
    throw failure
  }
}

/** `http://h:1/x` -> `http://h:1`; '' when it is no URL. */
export function originOf(url: string): string {
  try { return new URL(url).origin } catch { return '' }
}

/** A failure in words for people. */
export function describe(err: unknown): string {
  if (err instanceof DOMException && err.name === 'TimeoutError') return 'no answer in time'
  // What fetch throws for a refused, reset or cut connection ("Failed to fetch", "network error").
  if (err instanceof TypeError) return 'connection refused or broken'
  if (err instanceof Error) return err.message
  return String(err)
}
