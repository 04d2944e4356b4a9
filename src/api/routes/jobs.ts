// /v1/jobs: submit (validated and defaulted here, at the edge), list, inspect, cancel, and read
// an allocation's output from whichever node ran it.
import type { FastifyInstance } from 'fastify'
import type { AgentView } from '../agent-view.js'
import { badRequest, notFound, sendReply } from '../errors.js'
import { LOG_OFFSET_HEADER, pickAllocation, readLocal, readRemote } from '../job-logs.js'
import { JobIdParams, JobSpecInput, LogQuery, normalizeJobSpec } from '../job-schemas.js'

const IDEMPOTENCY_HEADER = 'idempotency-key'
const MAX_IDEMPOTENCY_KEY = 256

/** The Idempotency-Key header, trimmed; absent is fine, present but empty or too long is a 400. */
function idempotencyKey(raw: string | string[] | undefined): string | undefined {
  if (raw === undefined) return undefined
  const field = `headers/${IDEMPOTENCY_HEADER}`
  if (Array.isArray(raw)) throw badRequest(`${field} must be given once`, { fields: [{ field, message: 'must be given once' }] })
  const key = raw.trim()
  if (key.length < 1 || key.length > MAX_IDEMPOTENCY_KEY) {
    const message = `must be 1-${MAX_IDEMPOTENCY_KEY} characters after trimming`
    throw badRequest(`${field} ${message}`, { fields: [{ field, message }] })
  }
  return key
}

/** The core's answer as it is: its status, and its body (an error body keeps its own shape). */

/** Where a job is submitted (POST): the path whose latency the server warms up for. */
export const SUBMIT_PATH = '/v1/jobs'

export function jobRoutes(app: FastifyInstance, view: AgentView): void {
  app.post<{ Body: JobSpecInput }>(SUBMIT_PATH, {
    schema: { body: JobSpecInput },
    // fastify's ajv coerces scalars to arrays, which would turn `"command": "echo hi"` into a
    // one-element argv naming a program `echo hi`; an argv must be written as one.
    preValidation: async (request) => {
      const body = request.body as { command?: unknown } | null | undefined
      if (typeof body === 'object' && body !== null && body.command !== undefined && !Array.isArray(body.command)) {
        const message = 'must be an array of strings (argv), e.g. ["sh", "-c", "echo hi"]'
        throw badRequest(`body/command ${message}`, { fields: [{ field: 'body/command', message }] })
      }
    },
  }, async (request, reply) => {
    const key = idempotencyKey(request.headers[IDEMPOTENCY_HEADER])
    const answer = await view.submitJob(normalizeJobSpec(request.body), key)
    const id = (answer.body as { id?: unknown } | undefined)?.id
    if (answer.status === 201 && typeof id === 'string') reply.header('location', `/v1/jobs/${encodeURIComponent(id)}`)
    return sendReply(reply, answer)
  })

  app.get('/v1/jobs', async () => ({ jobs: await view.jobs() }))

  app.get<{ Params: JobIdParams }>('/v1/jobs/:id', { schema: { params: JobIdParams } }, async (request) => {
    const job = await view.job(request.params.id)
    if (job === undefined) throw notFound(`no job ${request.params.id}`)
    return { ...job, storedOn: view.storedOn(job.id) }
  })

  app.delete<{ Params: JobIdParams }>('/v1/jobs/:id', { schema: { params: JobIdParams } }, async (request, reply) =>
    sendReply(reply, await view.cancelJob(request.params.id)))

  app.get<{ Params: JobIdParams; Querystring: LogQuery }>('/v1/jobs/:id/logs', {
    schema: { params: JobIdParams, querystring: LogQuery },
  }, async (request, reply) => {
    const { id } = request.params
    const job = await view.job(id)
    if (job === undefined) throw notFound(`no job ${id}`)
    const query = { ...request.query, stream: request.query.stream ?? 'stdout' }
    const alloc = pickAllocation(job, query.index ?? 0, query.attempt)
    const answer = alloc.nodeId === view.nodeId || query.local === '1'
      ? await readLocal(view, job, alloc, query.stream, query.offset ?? 0)
      : await readRemote(view, job, alloc, query, request.headers.authorization)
    if (answer.offset !== undefined) reply.header(LOG_OFFSET_HEADER, answer.offset)
    // Which allocation this is, so a client following "the latest attempt" sees when it changes.
    reply.header('x-murmur-allocation', `${alloc.index}.${alloc.attempt}`)
    return reply.code(answer.status).type(answer.contentType).send(answer.body)
  })
}
