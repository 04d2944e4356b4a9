// Which web pages may call this API from another origin. The dashboard served by one agent keeps
// going through another agent's API when its own agent dies (another port or host: another
// origin), so that API must answer it with CORS headers. It answers only pages served by a member
// of the cluster, i.e. origins that are some member's API URL (dead and left members included: the
// page of a dead agent is exactly the one that needs this):
// - without a token, the API runs any command for anyone who can reach it, and a browser reaches
//   127.0.0.1 from any web site it visits; allowing any origin would let every site do that;
// - with a token, a foreign page would still need the token, but there is no reason to let it try.
// No credentials mode: the page authenticates with a bearer header it sets itself, never a cookie.
import type { FastifyCorsOptions } from '@fastify/cors'
import type { AgentView } from './agent-view.js'
import { ApiError } from './errors.js'
import { LOG_OFFSET_HEADER } from './job-logs.js'

/** Response headers the dashboard reads cross-origin (logs follow the offset header). */
const EXPOSED_HEADERS = [LOG_OFFSET_HEADER, 'x-murmur-allocation', 'location']
/** Request headers the dashboard sends. */
const ALLOWED_HEADERS = ['authorization', 'content-type', 'idempotency-key']
/** A page asks again after 10 minutes, so a node that left the cluster stops being trusted soon. */
const PREFLIGHT_MAX_AGE_S = 600

/** The origin (`scheme://host:port`) of every member's API URL, as this node knows members. */
export function memberOrigins(view: Pick<AgentView, 'nodes'>): Set<string> {
  const origins = new Set<string>()
  for (const node of view.nodes()) {
    if (node.api === '') continue
    try {
      origins.add(new URL(node.api).origin)
    } catch { /* an unparsable api URL names no page */ }
  }
  return origins
}

/** Options for @fastify/cors: reflect the Origin only when it is a member's API origin. */
export function corsOptions(view: Pick<AgentView, 'nodes'>): FastifyCorsOptions {
  return {
    origin: (origin, callback) => callback(null, origin !== undefined && memberOrigins(view).has(origin)),
    methods: ['GET', 'HEAD', 'POST', 'DELETE'],
    allowedHeaders: ALLOWED_HEADERS,
    exposedHeaders: EXPOSED_HEADERS,
    credentials: false,
    maxAge: PREFLIGHT_MAX_AGE_S,
    // A preflight must be answered before the bearer check: browsers never send Authorization on it.
    hook: 'onRequest',
  }
}

/** Methods that change nothing: a foreign page may send them (it cannot read the answer). */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * Refuses a state-changing request that a browser sent from a page of another site. CORS only
 * hides answers from such a page; it can still send a request that needs no preflight. Today each
 * state-changing route wants a JSON body, which such a request cannot carry, so this is the second
 * line: it holds whatever a route comes to accept. Browsers put `Origin` on every such request;
 * the CLI and other programs send none, and the dashboard's origin is its agent's or a member's.
 */
export function checkSameSite(view: Pick<AgentView, 'nodes'>, method: string, origin: string | undefined, host: string | undefined): void {
  if (origin === undefined || SAFE_METHODS.has(method)) return
  if (host !== undefined && (origin === `http://${host}` || origin === `https://${host}`)) return
  if (memberOrigins(view).has(origin)) return
  throw new ApiError(403, 'forbidden_origin', `a page from ${origin.slice(0, 200)} may not change this cluster (only pages served by its agents may)`)
}
