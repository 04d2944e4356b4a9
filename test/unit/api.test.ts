// The HTTP API against a fake AgentView: every route, the one error shape (404, 405, 400 from
// schema validation, 415, 500), bearer auth on and off, request metrics, and /v1/events over a
// real socket (SSE needs a live connection; inject() cannot stream).
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { ApiError } from '../../src/api/errors.js'
import { createApiServer, type ApiServerOptions } from '../../src/api/server.js'
import type { ClusterEvent } from '../../src/core/types.js'
import { fakeView, NODES, sseClients, type FakeView } from '../support/api-view.js'

const apps: FastifyInstance[] = []
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()))
})

async function server(opts: ApiServerOptions = {}, view: FakeView = fakeView()): Promise<{ app: FastifyInstance; view: FakeView }> {
  const app = await createApiServer(view, opts)
  apps.push(app)
  return { app, view }
}

describe('routes', () => {
  it('GET /v1/health names the node', async () => {
    const { app } = await server()
    const res = await app.inject({ url: '/v1/health' })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ ok: true, nodeId: '12D3KooWAAAA', name: 'n1' })
  })

  it('GET /v1/nodes lists every node', async () => {
    const { app } = await server()
    const res = await app.inject({ url: '/v1/nodes' })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toMatch(/^application\/json/)
    expect(res.json()).toEqual({ nodes: NODES })
  })

  it('GET /v1/nodes/:idOrName finds by id and by name, 404s otherwise', async () => {
    const { app } = await server()
    expect((await app.inject({ url: '/v1/nodes/12D3KooWBBBB' })).json()).toEqual(NODES[1])
    expect((await app.inject({ url: '/v1/nodes/n2' })).json()).toEqual(NODES[1])
    const missing = await app.inject({ url: '/v1/nodes/n9' })
    expect(missing.statusCode).toBe(404)
    expect(missing.json()).toEqual({ error: { code: 'not_found', message: "no node with id or name 'n9'" } })
  })

  it('GET /metrics serves the registry, including request metrics by route and status', async () => {
    const { app } = await server()
    await app.inject({ url: '/v1/nodes' })
    await app.inject({ url: '/no/such/thing' })
    const res = await app.inject({ url: '/metrics' })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toContain('text/plain')
    expect(res.body).toContain('murmur_http_request_duration_seconds_count{method="GET",route="/v1/nodes",status="200"} 1')
    expect(res.body).toContain('murmur_http_request_duration_seconds_count{method="GET",route="unmatched",status="404"} 1')
  })

  it('a second server on the same registry reuses its metrics', async () => {
    const view = fakeView()
    await server({}, view)
    await expect(server({}, view)).resolves.toBeDefined()
  })
})

describe('errors', () => {
  it('unknown routes are 404 not_found in the error shape', async () => {
    const { app } = await server()
    const res = await app.inject({ url: '/v2/nope?x=1' })
    expect(res.statusCode).toBe(404)
    expect(res.json()).toEqual({ error: { code: 'not_found', message: 'no route for GET /v2/nope' } })
  })

  it('a known path with the wrong method is 405 with Allow', async () => {
    const { app } = await server()
    const res = await app.inject({ method: 'DELETE', url: '/v1/nodes/n1' })
    expect(res.statusCode).toBe(405)
    expect(res.headers['allow']).toBe('GET, HEAD')
    expect(res.json().error.code).toBe('method_not_allowed')
  })

  it('schema failures are 400 bad_request naming the field and the reason', async () => {
    const { app } = await server()
    const tooLong = await app.inject({ url: `/v1/nodes/${'x'.repeat(300)}` })
    expect(tooLong.statusCode).toBe(400)
    expect(tooLong.json().error).toMatchObject({ code: 'bad_request', message: 'params/idOrName must NOT have more than 256 characters' })
  })

  it('body validation reports every field, missing and unknown ones by their own path', async () => {
    const { app } = await server()
    app.post('/test/body', {
      schema: {
        body: Type.Object({
          command: Type.Array(Type.String(), { minItems: 1 }),
          resources: Type.Optional(Type.Object({ cpu: Type.Number({ minimum: 0 }) }, { additionalProperties: false })),
        }),
      },
    }, async () => ({ ok: true }))

    const negative = await app.inject({ method: 'POST', url: '/test/body', payload: { command: ['x'], resources: { cpu: -1 } } })
    expect(negative.statusCode).toBe(400)
    expect(negative.json()).toEqual({
      error: { code: 'bad_request', message: 'body/resources/cpu must be >= 0', details: { fields: [{ field: 'body/resources/cpu', message: 'must be >= 0' }] } },
    })

    const many = await app.inject({ method: 'POST', url: '/test/body', payload: { resources: { cpu: 1, gpu: 1 } } })
    expect(many.json().error.details.fields).toEqual([
      { field: 'body/command', message: 'is required' },
      { field: 'body/resources/gpu', message: 'is not allowed' },
    ])

    const badJson = await app.inject({ method: 'POST', url: '/test/body', payload: '{nope', headers: { 'content-type': 'application/json' } })
    expect(badJson.statusCode).toBe(400)
    expect(badJson.json().error.code).toBe('bad_request')

    const xml = await app.inject({ method: 'POST', url: '/test/body', payload: '<a/>', headers: { 'content-type': 'application/xml' } })
    expect(xml.statusCode).toBe(415)
    expect(xml.json().error.code).toBe('unsupported_media_type')
  })

  it('ApiError keeps its status, code and details; anything else is a 500 that reveals nothing', async () => {
    const { app } = await server()
    app.get('/test/conflict', async () => { throw new ApiError(409, 'conflict', 'already there', { id: 'j1' }) })
    app.get('/test/boom', async () => { throw new Error('secret internals') })
    const conflict = await app.inject({ url: '/test/conflict' })
    expect(conflict.statusCode).toBe(409)
    expect(conflict.json()).toEqual({ error: { code: 'conflict', message: 'already there', details: { id: 'j1' } } })
    const boom = await app.inject({ url: '/test/boom' })
    expect(boom.statusCode).toBe(500)
    expect(boom.json()).toEqual({ error: { code: 'internal', message: 'internal error' } })
  })
})

describe('auth', () => {
  const paths = ['/metrics', '/v1/health', '/v1/nodes', '/v1/events', '/v1/events/recent', '/no/such/route', '/ui/nope.js', '/ui/']

  it('without a token configured, no header is needed', async () => {
    const { app } = await server()
    expect((await app.inject({ url: '/v1/health' })).statusCode).toBe(200)
  })

  it('with a token, every path answers 401 unless the bearer token matches', async () => {
    const { app } = await server({ token: 's3cret' })
    for (const url of paths) {
      const none = await app.inject({ url })
      expect(none.statusCode, url).toBe(401)
      expect(none.json().error.code, url).toBe('unauthorized')
      const wrong = await app.inject({ url, headers: { authorization: 'Bearer s3cre' } })
      expect(wrong.statusCode, url).toBe(401)
      const basic = await app.inject({ url, headers: { authorization: 'Basic czNjcmV0' } })
      expect(basic.statusCode, url).toBe(401)
    }
    for (const authorization of ['Bearer s3cret', 'bearer s3cret']) {
      expect((await app.inject({ url: '/v1/health', headers: { authorization } })).statusCode).toBe(200)
    }
    expect((await app.inject({ url: '/no/such/route', headers: { authorization: 'Bearer s3cret' } })).statusCode).toBe(404)
  })

  it('without a token, only requests addressed by a loopback name are answered (no DNS rebinding)', async () => {
    const { app } = await server()
    for (const host of ['127.0.0.1:7070', '127.0.0.2', 'localhost:7070', 'LOCALHOST', '[::1]:7070']) {
      expect((await app.inject({ url: '/v1/health', headers: { host } })).statusCode, host).toBe(200)
    }
    for (const host of ['evil.example:7070', '10.0.0.1:7070', 'localhost.evil.example', '127.0.0.1.nip.io']) {
      const res = await app.inject({ url: '/v1/health', headers: { host } })
      expect(res.statusCode, host).toBe(403)
      expect(res.json().error.code).toBe('forbidden_host')
    }
    const { app: withToken } = await server({ token: 's3cret' })
    expect((await withToken.inject({ url: '/v1/health', headers: { host: 'murmur.example', authorization: 'Bearer s3cret' } })).statusCode).toBe(200)
  })

  it('with a token, only GET and HEAD of the dashboard files answer without it', async () => {
    const { app } = await server({ token: 's3cret' })
    for (const url of ['/', '/?x=1', '/ui/style.css', '/ui/icon.svg']) {
      expect((await app.inject({ url })).statusCode, url).toBe(200)
      expect((await app.inject({ url, method: 'HEAD' })).statusCode, url).toBe(200)
    }
    expect((await app.inject({ url: '/', method: 'POST' })).statusCode).toBe(401)
    expect((await app.inject({ url: '/ui/style.css', method: 'DELETE' })).statusCode).toBe(401)
  })
})

describe('GET /v1/events', () => {
  async function listening(opts: ApiServerOptions = {}): Promise<{ url: string; view: FakeView; app: FastifyInstance }> {
    // fetch (undici) opens a spare connection when a stream is aborted; a short grace cuts it.
    const { app, view } = await server({ closeGraceMs: 100, ...opts })
    const address = await app.listen({ host: '127.0.0.1', port: 0 })
    return { url: address, view, app }
  }

  /** Reads the stream until `done(text so far)` holds. */
  async function readUntil(body: ReadableStream<Uint8Array>, done: (text: string) => boolean): Promise<string> {
    const reader = body.getReader()
    const decoder = new TextDecoder()
    let text = ''
    try {
      while (!done(text)) {
        const { value, done: ended } = await reader.read()
        if (ended) break
        text += decoder.decode(value, { stream: true })
      }
    } finally {
      reader.releaseLock()
    }
    return text
  }

  async function untilAsync(check: () => Promise<boolean>): Promise<void> {
    for (let i = 0; i < 200 && !(await check()); i++) await new Promise((r) => setTimeout(r, 10))
    expect(await check()).toBe(true)
  }

  it('streams each ClusterEvent as `event: node` and unsubscribes when the client leaves', async () => {
    const { url, view } = await listening()
    const abort = new AbortController()
    const res = await fetch(`${url}/v1/events`, { signal: abort.signal })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/)
    await untilAsync(async () => await sseClients(view) === 1)

    const event: ClusterEvent = { type: 'node', node: '12D3KooWBBBB', name: 'n2', from: 'alive', to: 'suspect', incarnation: 1, reason: 'probe timeout' }
    const before = Date.now()
    view.emit(event)
    const text = await readUntil(res.body!, (t) => t.includes('data:') && t.endsWith('\n\n'))
    const frame = text.split('\n\n').find((f) => f.startsWith('event: node'))
    const [head, data] = (frame ?? '').split('\ndata: ')
    expect(head).toBe('event: node')
    // The core's event, stamped with when this node saw it.
    const sent = JSON.parse(data ?? '') as ClusterEvent & { at: string }
    expect(sent).toEqual({ ...event, at: expect.any(String) })
    expect(Date.parse(sent.at)).toBeGreaterThanOrEqual(before - 1)

    abort.abort()
    await untilAsync(async () => await sseClients(view) === 0)
  })

  it('sends comment heartbeats on an idle stream', async () => {
    const { url } = await listening({ sse: { heartbeatMs: 50 } })
    const abort = new AbortController()
    const res = await fetch(`${url}/v1/events`, { signal: abort.signal })
    const text = await readUntil(res.body!, (t) => t.includes(': heartbeat\n\n'))
    expect(text).toContain(': heartbeat\n\n')
    abort.abort()
  })

  it('app.close() ends open streams instead of waiting for clients', async () => {
    const { url, view, app } = await listening()
    const res = await fetch(`${url}/v1/events`)
    await untilAsync(async () => await sseClients(view) === 1)
    await app.close()
    const rest = await readUntil(res.body!, () => false)
    expect(rest).toContain(': connected')
    expect(await sseClients(view)).toBe(0)
    // The API's own subscription (its event history) ends with it too.
    expect(view.listeners.size).toBe(0)
  })

  it('needs the token too', async () => {
    const { url } = await listening({ token: 't' })
    const res = await fetch(`${url}/v1/events`)
    expect(res.status).toBe(401)
    expect(await res.json()).toMatchObject({ error: { code: 'unauthorized' } })
  })
})
