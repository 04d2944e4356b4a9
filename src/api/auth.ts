// Bearer-token check for every request (CONTRACT: with --api-token set, anything without
// `Authorization: Bearer <token>` gets 401). Comparison is constant-time.
import { createHash, timingSafeEqual } from 'node:crypto'
import { ApiError } from './errors.js'

/**
 * Returns a checker for the Authorization header. Both sides are hashed first so the comparison
 * takes the same time whatever the length of the presented token.
 */
export function bearerChecker(token: string): (authorization: string | undefined) => void {
  const expected = digest(token)
  return (authorization) => {
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? '')
    const presented = match?.[1]
    if (presented === undefined || !timingSafeEqual(digest(presented), expected)) {
      throw new ApiError(401, 'unauthorized', presented === undefined
        ? 'missing bearer token (Authorization: Bearer <token>)'
        : 'invalid bearer token')
    }
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest()
}

/**
 * Requests that need no token: GET and HEAD of the dashboard's own files (ASSET_PATHS), which are
 * the same bytes on every murmur agent of one version and carry nothing about the cluster: no node
 * name, no address, no token. A browser opening the page cannot send a bearer header; the page's
 * script then sends it on every API call. Anything else, unknown paths included, needs the token.
 */
export function isPublic(method: string, url: string, publicPaths: ReadonlySet<string>): boolean {
  if (method !== 'GET' && method !== 'HEAD') return false
  const q = url.indexOf('?')
  return publicPaths.has(q < 0 ? url : url.slice(0, q))
}

/**
 * Without a token, only requests addressed to this machine by a loopback name are answered. A web
 * page can point a domain of its own at 127.0.0.1 (DNS rebinding) and then call this API as its
 * own origin, CORS notwithstanding; its requests still say `Host: <that domain>`. An agent
 * reachable under any other name has a token (agent-flags.ts refuses a non-loopback --api-host
 * without one), so this costs nothing to a real deployment.
 */
export function checkLoopbackHost(host: string | undefined): void {
  const name = hostName(host ?? '')
  if (name === 'localhost' || name === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name)) return
  throw new ApiError(403, 'forbidden_host',
    `this agent has no --api-token, so it answers only requests addressed to 127.0.0.1, localhost or [::1], not '${(host ?? '').slice(0, 100)}'`)
}

/** `Host` without its port, lower case; an IPv6 literal without brackets. */
function hostName(host: string): string {
  const h = host.trim().toLowerCase()
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') < 0 ? undefined : h.indexOf(']'))
  const colon = h.lastIndexOf(':')
  return colon < 0 ? h : h.slice(0, colon)
}
