// The one error shape of the HTTP API. Routes throw ApiError; fastify's own failures (validation,
// unknown routes, bad content types, body limits) are mapped here too, so every failure leaves as
// `{"error": {"code", "message", "details"}}` with a 4xx/5xx status.
import type { FastifyReply } from 'fastify'
import type { ApiReply } from '../core/job-types.js'

/** The JSON body of every error answer (CONTRACT section 3). */
export interface ErrorBody {
  error: { code: string; message: string; details?: unknown }
}

/**
 * An error a route answers with. `code` is machine-readable and stable (clients switch on it),
 * `message` is one line for people, `details` is optional structured context.
 */
export class ApiError extends Error {
  override readonly name = 'ApiError'

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message)
  }

  toBody(): ErrorBody {
    return errorBody(this.code, this.message, this.details)
  }
}

export function errorBody(code: string, message: string, details?: unknown): ErrorBody {
  return details === undefined ? { error: { code, message } } : { error: { code, message, details } }
}

export function badRequest(message: string, details?: unknown): ApiError {
  return new ApiError(400, 'bad_request', message, details)
}

export function notFound(message: string, details?: unknown): ApiError {
  return new ApiError(404, 'not_found', message, details)
}

export function sendApiError(reply: FastifyReply, err: ApiError): FastifyReply {
  return reply.code(err.status).type('application/json; charset=utf-8').send(err.toBody())
}

/** Codes for statuses fastify raises by itself; anything else 4xx falls back to `bad_request`. */
const CODE_BY_STATUS: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  408: 'request_timeout',
  409: 'conflict',
  413: 'payload_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  429: 'too_many_requests',
  431: 'headers_too_large',
  503: 'unavailable',
}

/** One ajv error as fastify attaches it to a validation failure. */
interface ValidationIssue {
  instancePath?: string
  keyword?: string
  message?: string
  params?: Record<string, unknown>
}

/** A failed field, as `details.fields` lists it. */
export interface FieldIssue {
  /** Where: `body/resources/cpu`, `params/id`, `querystring/stream`. */
  field: string
  /** Why, in ajv's words: `must be >= 0`, `is required`. */
  message: string
}

/**
 * Turns ajv errors into field/reason pairs that name the exact field: a missing property is
 * reported at the property (`body/command is required`), not at its parent object.
 */
export function describeValidation(context: string, issues: readonly ValidationIssue[]): FieldIssue[] {
  return issues.map((issue) => {
    let field = `${context}${issue.instancePath ?? ''}`
    let message = issue.message ?? 'is invalid'
    const params = issue.params ?? {}
    if (issue.keyword === 'required' && typeof params['missingProperty'] === 'string') {
      field = `${field}/${params['missingProperty']}`
      message = 'is required'
    } else if (issue.keyword === 'additionalProperties' && typeof params['additionalProperty'] === 'string') {
      field = `${field}/${params['additionalProperty']}`
      message = 'is not allowed'
    } else if (issue.keyword === 'enum' && Array.isArray(params['allowedValues'])) {
      message = `must be one of ${params['allowedValues'].map((v) => JSON.stringify(v)).join(', ')}`
    }
    return { field, message }
  })
}

/**
 * Maps anything a handler or fastify threw to an ApiError. Unknown errors become a 500 `internal`
 * whose message reveals nothing; the caller logs the original.
 */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err
  const e = (err ?? {}) as { statusCode?: unknown; message?: unknown; validation?: unknown; validationContext?: unknown }
  if (Array.isArray(e.validation)) {
    const context = typeof e.validationContext === 'string' ? e.validationContext : 'request'
    const fields = describeValidation(context, e.validation as ValidationIssue[])
    const first = fields[0]
    const message = first === undefined ? 'invalid request' : `${first.field} ${first.message}`
    return new ApiError(400, 'bad_request', message, { fields })
  }
  const status = typeof e.statusCode === 'number' ? e.statusCode : 500
  if (status >= 400 && status < 500) {
    const message = typeof e.message === 'string' && e.message !== '' ? e.message : 'bad request'
    return new ApiError(status, CODE_BY_STATUS[status] ?? 'bad_request', message)
  }
  if (status === 503) return new ApiError(503, 'unavailable', 'service unavailable')
  return new ApiError(500, 'internal', 'internal error')
}

/** Send the core's answer (status and body) as it is. */
export function sendReply(reply: FastifyReply, answer: ApiReply): FastifyReply {
  reply.code(answer.status)
  return answer.body === undefined ? reply.send() : reply.type('application/json; charset=utf-8').send(answer.body)
}
