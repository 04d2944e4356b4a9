// Builds the HTTP API of one agent: fastify with the cross-cutting parts (auth, the one error
// shape, 404/405, request metrics) set up here, and routes registered per concern from ./routes.
import type { ValidatorFactory } from '@fastify/ajv-compiler'
import cors from '@fastify/cors'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { AgentView } from './agent-view.js'
import { bearerChecker, checkLoopbackHost, isPublic } from './auth.js'
import { checkSameSite, corsOptions } from './cors.js'
import { ASSET_PATHS } from './dashboard-assets.js'
import { EventHistory } from './event-history.js'
import { ApiError, sendApiError, toApiError } from './errors.js'
import { httpMetrics } from './http-metrics.js'
import { lazyValidators } from './lazy-validators.js'
import { RouteTable } from './route-table.js'
import { dashboardRoutes } from './routes/dashboard.js'
import { eventRoutes } from './routes/events.js'
import { healthRoutes } from './routes/health.js'
import { jobRoutes, SUBMIT_PATH } from './routes/jobs.js'
import { metricsRoutes } from './routes/metrics.js'
import { nodeRoutes } from './routes/nodes.js'
import { DEFAULT_SSE_OPTIONS, type SseOptions } from './sse.js'

export interface ApiServerOptions {
  /** When set, every request needs `Authorization: Bearer <token>`. */
  token?: string
  /** Where the server logs; silent when absent. */
  logger?: Logger
  /** Overrides of the /v1/events stream timing (tests use a short heartbeat). */
  sse?: Partial<SseOptions>
  /** How long close() lets in-flight requests finish before cutting every connection. */
  closeGraceMs?: number
  /** The request schemas' compiler: fastify's own (ajv) unless given (tests count its compiles). */
  validatorCompiler?: ValidatorFactory
}

// A JobSpec is a few KB; 1 MiB leaves room for big env maps and refuses anything abusive.
const BODY_LIMIT = 1 << 20
// Long enough for an in-flight request (a job submit waits for its replicas) to finish.
const CLOSE_GRACE_MS = 2_000

/**
 * Creates the API server for `view`, not yet listening: the caller does `.listen({ host, port })`
 * (or `.inject()` in tests) and `.close()`.
 */
export async function createApiServer(view: AgentView, opts: ApiServerOptions = {}): Promise<FastifyInstance> {
  const validators = lazyValidators(opts.validatorCompiler)
  const app: FastifyInstance = Fastify({
    ...(opts.logger === undefined ? { logger: false } : { loggerInstance: opts.logger as FastifyBaseLogger }),
    // The dashboard polls every second; a log line per request would drown the agent's own logs.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT,
    // Above the params' own schema limits, so an over-long id is a 400 naming the field, not a bare 414.
    routerOptions: { maxParamLength: 512 },
    ajv: {
      customOptions: {
        // Report every bad field at once, and refuse unknown fields instead of silently dropping them.
        allErrors: true,
        removeAdditional: false,
        // Our route schemas are written in code (TypeBox) and their tests pin what they accept:
        // checking them against JSON Schema's meta-schema at every start compiled ajv's validator
        // of the meta-schema first, about a tenth of an agent's start-up cpu.
        validateSchema: false,
      },
    },
    schemaController: { compilersFactory: { buildValidator: validators.factory } },
  })

  // close() waits for in-flight requests and ends idle keep-alive sockets, but a socket that never
  // sent a request (a browser's preconnect, an HTTP client's spare) would hold it up until Node's
  // header timeout; after the grace period every connection is cut.
  app.addHook('preClose', async () => {
    const timer = setTimeout(() => app.server.closeAllConnections(), opts.closeGraceMs ?? CLOSE_GRACE_MS)
    timer.unref()
    app.server.once('close', () => clearTimeout(timer))
  })

  // A node says it is ready once its API listens (server.listen waits for onReady): from then on
  // a submit must not wait for ajv. The other routes' validators still compile on first use.
  app.addHook('onReady', async () => {
    validators.compileNow((part) => part.method === 'POST' && part.url === SUBMIT_PATH)
  })

  const routes = new RouteTable()
  app.addHook('onRoute', (route) => {
    // @fastify/cors's catch-all OPTIONS route answers preflights only; it is no method of any path.
    if (route.url !== '*') routes.add(route)
  })

  // Before the bearer check: a preflight never carries the Authorization header (cors.ts).
  await app.register(cors, corsOptions(view))
  app.addHook('onRequest', async (request) => checkSameSite(view, request.method, request.headers.origin, request.headers.host))

  if (opts.token === undefined) {
    app.addHook('onRequest', async (request) => checkLoopbackHost(request.headers.host))
  } else {
    const check = bearerChecker(opts.token)
    const publicPaths = new Set<string>(ASSET_PATHS)
    app.addHook('onRequest', async (request) => {
      if (!isPublic(request.method, request.url, publicPaths)) check(request.headers.authorization)
    })
  }

  const history = new EventHistory(view)
  app.addHook('onClose', async () => history.close())

  const metrics = httpMetrics(view.metrics)
  app.addHook('onResponse', async (request, reply) => {
    // Unmatched paths share one label so scanners cannot blow up the metric's cardinality.
    const route = request.routeOptions.url ?? 'unmatched'
    metrics.requests.observe(
      { method: request.method, route, status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    )
    request.log.debug({ method: request.method, url: request.url, status: reply.statusCode, ms: reply.elapsedTime }, 'request')
  })

  app.setErrorHandler((err, request, reply) => {
    const apiError = toApiError(err)
    if (apiError.status >= 500) request.log.error({ err, method: request.method, url: request.url }, 'request failed')
    return sendApiError(reply, apiError)
  })

  app.setNotFoundHandler((request, reply) => {
    const allowed = routes.allowed(request.url)
    if (allowed.length > 0 && !allowed.includes(request.method)) {
      reply.header('allow', allowed.join(', '))
      return sendApiError(reply, new ApiError(405, 'method_not_allowed',
        `${request.method} is not allowed on ${request.url.split('?', 1)[0]}; allowed: ${allowed.join(', ')}`,
        { allowed }))
    }
    return sendApiError(reply, new ApiError(404, 'not_found', `no route for ${request.method} ${request.url.split('?', 1)[0]}`))
  })

  healthRoutes(app, view)
  nodeRoutes(app, view, history)
  jobRoutes(app, view)
  eventRoutes(app, history, metrics, { ...DEFAULT_SSE_OPTIONS, ...opts.sse }, () => view.watch?.() ?? (() => undefined))
  metricsRoutes(app, view)
  dashboardRoutes(app)
  return app
}
