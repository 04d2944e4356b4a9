// The /v1/jobs routes against a fake AgentView: defaults and validation at the edge (nothing is
// submitted on bad input), pass-through of the core's answers, and logs read locally or proxied
// to the node that ran the allocation (a second real server on a socket).
import { AjvCompiler, type ValidatorFactory } from '@fastify/ajv-compiler'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import type { FastifyInstance } from 'fastify'
import { Registry } from 'prom-client'
import { afterEach, describe, expect, it } from 'vitest'
import type { AgentView, LogChunk } from '../../src/api/agent-view.js'
import { createApiServer, type ApiServerOptions } from '../../src/api/server.js'
import type { ApiReply, JobSpec, JobStatus } from '../../src/core/job-types.js'
import type { NodeStatus } from '../../src/core/types.js'
import { rpcRequestCodec } from '../../src/gossip/codec.js'
import { JobSpecSchema } from '../../src/gossip/schemas.js'

const N1 = '12D3KooWAAAA'
const N2 = '12D3KooWBBBB'

function node(id: string, name: string, api: string): NodeStatus {
  return {
    id, name, state: 'alive', incarnation: 1, addrs: [], api, labels: {}, allocations: 0, lastSeenMs: 0,
    resources: { total: { cpu: 4, memoryMb: 4096 }, free: { cpu: 4, memoryMb: 4096 } },
  }
}

const SPEC: JobSpec = {
  name: 'sh', command: ['sh', '-c', 'echo hi'], env: {}, resources: { cpu: 0.1, memoryMb: 64 }, count: 2, type: 'batch',
  constraints: [], restart: { attempts: 1, backoffMs: 1000 }, timeoutMs: 0,
}
const alloc = (index: number, attempt: number, nodeId: string, state: JobStatus['allocations'][number]['state']): JobStatus['allocations'][number] => ({
  index, attempt, nodeId, nodeName: nodeId === N1 ? 'n1' : 'n2', state, exitCode: state === 'failed' ? 3 : null,
  startedAt: '2024-01-01T00:00:00.000Z', finishedAt: null,
})
/** Instance 0 failed on n2 and runs again on n1; instance 1 runs on n2. */
const JOB: JobStatus = {
  id: 'j-1', name: 'sh', type: 'batch', state: 'running', submittedAt: '2024-01-01T00:00:00.000Z', spec: SPEC,
  allocations: [alloc(0, 1, N2, 'failed'), alloc(0, 2, N1, 'running'), alloc(1, 1, N2, 'running')],
}
const PENDING: JobStatus = { ...JOB, id: 'j-2', state: 'pending', pendingReason: 'no node has 8 cpu free', allocations: [] }

interface FakeView extends AgentView {
  submits: Array<{ spec: JobSpec; key: string | undefined }>
  logReads: Array<[string, string, number, number]>
  submitReply: ApiReply
}

function fakeView(id: string, name: string, opts: { nodes?: NodeStatus[]; logs?: Record<string, string> } = {}): FakeView {
  const nodes = opts.nodes ?? []
  const view: FakeView = {
    nodeId: id, name, metrics: new Registry(), subscribe: () => () => undefined,
    nodes: () => nodes, node: (x) => nodes.find((n) => n.id === x || n.name === x),
    jobs: async () => [JOB, PENDING], job: async (x) => [JOB, PENDING].find((j) => j.id === x),
    submits: [], logReads: [], submitReply: { status: 201, body: { id: 'j-new' } },
    submitJob: async (spec, key) => {
      view.submits.push({ spec, key })
      return view.submitReply
    },
    drainNode: async () => ({ status: 202, body: {} }),
    storedOn: () => ['a', 'b', 'c'],
    cancelJob: async (x) => x === 'j-1'
      ? { status: 202, body: { id: x, state: 'cancelled' } }
      : { status: 404, body: { error: { code: 'not_found', message: `no job ${x}` } } },
    readLocalLog: async (allocId, stream, offset, max): Promise<LogChunk | undefined> => {
      view.logReads.push([allocId, stream, offset, max])
      const text = opts.logs?.[`${allocId}/${stream}`]
      if (text === undefined) return undefined
      const data = Buffer.from(text).subarray(offset)
      return { data, next: offset + data.length }
    },
  }
  return view
}

const apps: FastifyInstance[] = []
afterEach(async () => { await Promise.all(apps.splice(0).map((a) => a.close())) })

async function server(view: FakeView, opts: ApiServerOptions = {}): Promise<FastifyInstance> {
  const app = await createApiServer(view, opts)
  apps.push(app)
  return app
}

const post = (app: FastifyInstance, payload: unknown, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: '/v1/jobs', payload: payload as object, headers })

describe('POST /v1/jobs', () => {
  it('has its body validator compiled once the server is ready, before any request; other routes compile on first use', async () => {
    const compiled: string[] = []
    const real = AjvCompiler()
    const counting: ValidatorFactory = (externalSchemas, options) => {
      const compile = real(externalSchemas, options)
      return ((route: { method: string; url: string; httpPart: string }) => {
        compiled.push(`${route.method} ${route.url} ${route.httpPart}`)
        return (compile as unknown as (r: unknown) => unknown)(route)
      }) as unknown as ReturnType<ValidatorFactory>
    }
    const app = await server(fakeView(N1, 'n1'), { validatorCompiler: counting })
    await app.ready()
    expect(compiled).toEqual(['POST /v1/jobs body'])
    expect((await post(app, { command: ['true'] })).statusCode).toBe(201)
    expect((await post(app, { command: 'true' })).statusCode).toBe(400)
    expect((await post(app, { command: ['true'], extra: 1 })).statusCode).toBe(400)
    expect((await app.inject({ method: 'GET', url: '/v1/jobs/j-1' })).statusCode).toBe(200)
    expect(compiled).toEqual(['POST /v1/jobs body', 'GET /v1/jobs/:id params'])
  })

  it('fills every default and submits the full JobSpec', async () => {
    const view = fakeView(N1, 'n1')
    const app = await server(view)
    const res = await post(app, { command: ['/usr/bin/python3', '-c', 'print(1)'] })
    expect(res.statusCode).toBe(201)
    expect(res.json()).toEqual({ id: 'j-new' })
    expect(res.headers['location']).toBe('/v1/jobs/j-new')
    expect(view.submits).toEqual([{ key: undefined, spec: {
      name: 'python3', command: ['/usr/bin/python3', '-c', 'print(1)'], env: {}, resources: { cpu: 0.1, memoryMb: 64 },
      count: 1, type: 'batch', constraints: [], restart: { attempts: 0, backoffMs: 1000 }, timeoutMs: 0,
      disconnect: { replace: true, reconcile: 'longest_running', stopAfterMs: null },
    } }])
  })

  it('keeps what the user gave and defaults each missing field on its own', async () => {
    const view = fakeView(N1, 'n1')
    const app = await server(view)
    const given = {
      name: 'web', command: ['srv'], env: { A: '1' }, resources: { memoryMb: 256 }, count: 3, type: 'service',
      constraints: [{ label: 'zone', op: 'in', value: 'a,b' }], restart: { attempts: 2 }, timeoutMs: 60_000,
      disconnect: { stopAfterMs: 5_000 },
    }
    expect((await post(app, given)).statusCode).toBe(201)
    expect(view.submits[0]?.spec).toEqual({
      ...given, resources: { cpu: 0.1, memoryMb: 256 }, restart: { attempts: 2, backoffMs: 1000 },
      disconnect: { replace: true, reconcile: 'longest_running', stopAfterMs: 5_000 },
    })
  })

  it('refuses a disconnect block it cannot honour, naming the field', async () => {
    const app = await server(fakeView(N1, 'n1'))
    const bad = await post(app, { command: ['x'], disconnect: { reconcile: 'newest' } })
    expect(bad.statusCode).toBe(400)
    expect(bad.json().error.message).toMatch(/disconnect\/reconcile must be equal to one of the allowed values|disconnect\/reconcile/)
    expect((await post(app, { command: ['x'], disconnect: { stopAfterMs: -5 } })).statusCode).toBe(400)
    expect((await post(app, { command: ['x'], disconnect: { replace: 'no' } })).statusCode).toBe(400)
  })

  it.each([
    [{}, 'body/command is required'],
    [{ command: [] }, 'body/command must NOT have fewer than 1 items'],
    [{ command: [''] }, 'body/command/0 must NOT have fewer than 1 characters'],
    [{ command: 'echo hi' }, 'body/command must be an array of strings (argv), e.g. ["sh", "-c", "echo hi"]'],
    [{ command: ['x'], resources: { cpu: 0 } }, 'body/resources/cpu must be > 0'],
    [{ command: ['x'], resources: { cpu: 2000 } }, 'body/resources/cpu must be <= 1024'],
    [{ command: ['x'], resources: { memoryMb: 0.5 } }, 'body/resources/memoryMb must be >= 1'],
    [{ command: ['x'], resources: { gpu: 1 } }, 'body/resources/gpu is not allowed'],
    [{ command: ['x'], count: 0 }, 'body/count must be >= 1'],
    [{ command: ['x'], count: 1.5 }, 'body/count must be integer'],
    [{ command: ['x'], count: 10_001 }, 'body/count must be <= 10000'],
    [{ command: ['x'], type: 'cron' }, 'body/type must be one of "batch", "service"'],
    [{ command: ['x'], constraints: [{ label: 'zone', op: '~', value: 'a' }] }, 'body/constraints/0/op must be one of "=", "!=", "in", "not_in"'],
    [{ command: ['x'], constraints: [{ label: '', op: '=', value: 'a' }] }, 'body/constraints/0/label must NOT have fewer than 1 characters'],
    [{ command: ['x'], restart: { attempts: -1 } }, 'body/restart/attempts must be >= 0'],
    [{ command: ['x'], restart: { attempts: 1001 } }, 'body/restart/attempts must be <= 1000'],
    [{ command: ['x'], timeoutMs: -5 }, 'body/timeoutMs must be >= 0'],
    [{ command: ['x'], name: '' }, 'body/name must NOT have fewer than 1 characters'],
    [{ command: ['x'], name: 'n'.repeat(257) }, 'body/name must NOT have more than 256 characters'],
    [{ command: ['x'], env: { 'A=B': 'v' } }, 'body/env must match pattern "^[^=]+$"'],
    [{ command: ['x'], priority: 5 }, 'body/priority is not allowed'],
  ])('%j is a 400 naming the field, and submits nothing', async (payload, message) => {
    const view = fakeView(N1, 'n1')
    const app = await server(view)
    const res = await post(app, payload)
    expect(res.statusCode).toBe(400)
    expect(res.json().error).toMatchObject({ code: 'bad_request', message })
    expect(view.submits).toHaveLength(0)
  })

  it('passes a trimmed Idempotency-Key through, and refuses an empty or over-long one', async () => {
    const view = fakeView(N1, 'n1')
    const app = await server(view)
    expect((await post(app, { command: ['x'] }, { 'idempotency-key': '  deploy-42 ' })).statusCode).toBe(201)
    expect(view.submits.map((s) => s.key)).toEqual(['deploy-42'])
    for (const key of ['   ', 'k'.repeat(257)]) {
      const res = await post(app, { command: ['x'] }, { 'idempotency-key': key })
      expect(res.statusCode).toBe(400)
      expect(res.json().error.message).toBe('headers/idempotency-key must be 1-256 characters after trimming')
    }
    expect(view.submits).toHaveLength(1)
  })

  it("answers with the core's reply as it is (503 while replicas cannot be reached)", async () => {
    const view = fakeView(N1, 'n1')
    view.submitReply = { status: 503, body: { error: { code: 'unavailable', message: 'stored on 1 of 3 nodes' } } }
    const res = await post(await server(view), { command: ['x'] })
    expect(res.statusCode).toBe(503)
    expect(res.json()).toEqual(view.submitReply.body)
  })

  it.each([
    ['defaults only', { command: ['x'] }],
    ['a long argv[0] as the default name', { command: [`/bin/${'p'.repeat(60_000)}`] }],
    ['every field at its bound', {
      name: 'n'.repeat(256), command: Array.from({ length: 1024 }, (_, i) => `a${i}`),
      env: Object.fromEntries(Array.from({ length: 256 }, (_, i) => [`K${i}`.padEnd(256, 'k'), 'v'])),
      resources: { cpu: 1024, memoryMb: 16 * 1024 * 1024 }, count: 10_000, type: 'service',
      constraints: Array.from({ length: 64 }, () => ({ label: 'l'.repeat(128), op: 'not_in', value: 'v'.repeat(1024) })),
      restart: { attempts: 1000, backoffMs: 86_400_000 }, timeoutMs: 30 * 86_400_000,
    }],
  ])('a spec the API accepts passes the wire schema and codec: %s', async (_what, payload) => {
    const view = fakeView(N1, 'n1')
    expect((await post(await server(view), payload)).statusCode).toBe(201)
    const spec = view.submits[0]?.spec
    const check = TypeCompiler.Compile(JobSpecSchema)
    expect([...check.Errors(spec)].map((e) => `${e.path} ${e.message}`)).toEqual([])
    const job = { id: 'j-0123456789abcdef', spec, submittedAt: 0, cancelled: false, allocations: {}, pendingReason: '', reasonVersion: 0 }
    expect(rpcRequestCodec.decode(rpcRequestCodec.encode({ type: 'store-job', job: job as never }))).toEqual({ type: 'store-job', job })
  })
})

describe('GET and DELETE /v1/jobs', () => {
  it('lists every job, shows one, and 404s an unknown one', async () => {
    const app = await server(fakeView(N1, 'n1'))
    expect((await app.inject({ url: '/v1/jobs' })).json()).toEqual({ jobs: [JOB, PENDING] })
    // One job also says which nodes store it (this node's view of membership).
    expect((await app.inject({ url: '/v1/jobs/j-1' })).json()).toEqual({ ...JOB, storedOn: ['a', 'b', 'c'] })
    const missing = await app.inject({ url: '/v1/jobs/j-9' })
    expect(missing.statusCode).toBe(404)
    expect(missing.json()).toEqual({ error: { code: 'not_found', message: 'no job j-9' } })
  })

  it("DELETE passes the core's 202 and 404 through", async () => {
    const app = await server(fakeView(N1, 'n1'))
    const ok = await app.inject({ method: 'DELETE', url: '/v1/jobs/j-1' })
    expect(ok.statusCode).toBe(202)
    expect(ok.json()).toEqual({ id: 'j-1', state: 'cancelled' })
    const missing = await app.inject({ method: 'DELETE', url: '/v1/jobs/j-9' })
    expect(missing.statusCode).toBe(404)
    expect(missing.json().error.code).toBe('not_found')
  })
})

describe('GET /v1/jobs/:id/logs', () => {
  const LOGS = { 'j-1.0.2/stdout': 'hello\nworld\n', 'j-1.0.2/stderr': 'oops\n', 'j-1.1.1/stdout': 'from n2\n' }

  it('reads the latest attempt of instance 0 from local disk, with the next offset', async () => {
    const view = fakeView(N1, 'n1', { logs: LOGS })
    const app = await server(view)
    const res = await app.inject({ url: '/v1/jobs/j-1/logs' })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toMatch(/^text\/plain/)
    expect(res.body).toBe('hello\nworld\n')
    expect(res.headers['x-murmur-log-offset']).toBe('12')
    expect(res.headers['x-murmur-allocation']).toBe('0.2')
    expect(view.logReads).toEqual([['j-1.0.2', 'stdout', 0, 1 << 20]])

    const rest = await app.inject({ url: '/v1/jobs/j-1/logs?offset=6' })
    expect(rest.body).toBe('world\n')
    expect(rest.headers['x-murmur-log-offset']).toBe('12')
    expect((await app.inject({ url: '/v1/jobs/j-1/logs?stream=stderr' })).body).toBe('oops\n')
  })

  it('404s an unknown job, a missing allocation and a missing log; 400s a bad query', async () => {
    const app = await server(fakeView(N1, 'n1', { logs: {} }))
    expect((await app.inject({ url: '/v1/jobs/j-9/logs' })).json().error.code).toBe('not_found')
    const pending = await app.inject({ url: '/v1/jobs/j-2/logs' })
    expect(pending.statusCode).toBe(404)
    expect(pending.json().error).toMatchObject({ code: 'no_allocation', message: 'job j-2 has no allocation for instance 0 yet (pending: no node has 8 cpu free)' })
    expect((await app.inject({ url: '/v1/jobs/j-1/logs?index=0&attempt=7' })).json().error.code).toBe('no_allocation')
    const noLog = await app.inject({ url: '/v1/jobs/j-1/logs' })
    expect(noLog.statusCode).toBe(404)
    expect(noLog.json().error.code).toBe('no_log')
    const bad = await app.inject({ url: '/v1/jobs/j-1/logs?stream=both' })
    expect(bad.statusCode).toBe(400)
    expect(bad.json().error.message).toBe('querystring/stream must be one of "stdout", "stderr"')
  })

  it('proxies to the node that ran the allocation, forwarding Authorization', async () => {
    const remote = fakeView(N2, 'n2', { logs: LOGS })
    const n2 = await server(remote, { token: 'tok' })
    const n2Url = await n2.listen({ host: '127.0.0.1', port: 0 })
    const local = fakeView(N1, 'n1', { nodes: [node(N2, 'n2', n2Url)] })
    const n1 = await server(local, { token: 'tok' })
    const auth = { authorization: 'Bearer tok' }

    const res = await n1.inject({ url: '/v1/jobs/j-1/logs?index=1&offset=5', headers: auth })
    expect(res.statusCode).toBe(200)
    expect(res.body).toBe('n2\n')
    expect(res.headers['x-murmur-log-offset']).toBe('8')
    expect(remote.logReads).toEqual([['j-1.1.1', 'stdout', 5, 1 << 20]])
    expect(local.logReads).toEqual([])

    // An older attempt ran on n2 too; n2's own errors come back as they are.
    const missing = await n1.inject({ url: '/v1/jobs/j-1/logs?attempt=1&stream=stderr', headers: auth })
    expect(missing.statusCode).toBe(404)
    expect(missing.json().error.code).toBe('no_log')
  })

  it('is a 502 naming the node when its API is down or unknown', async () => {
    const down = await server(fakeView(N2, 'n2'))
    const downUrl = await down.listen({ host: '127.0.0.1', port: 0 })
    await down.close()
    const app = await server(fakeView(N1, 'n1', { nodes: [node(N2, 'n2', downUrl)] }))
    const res = await app.inject({ url: '/v1/jobs/j-1/logs?index=1' })
    expect(res.statusCode).toBe(502)
    expect(res.json().error).toMatchObject({ code: 'log_unavailable', details: { node: N2, nodeName: 'n2' } })
    expect(res.json().error.message).toMatch(/^cannot read the log of job j-1 from node n2: http:\/\/127\.0\.0\.1:\d+ is unreachable \(ECONNREFUSED\)$/)

    const unknown = await server(fakeView(N1, 'n1'))
    const res2 = await unknown.inject({ url: '/v1/jobs/j-1/logs?index=1' })
    expect(res2.statusCode).toBe(502)
    expect(res2.json().error.message).toBe('cannot read the log of job j-1 from node n2: node unknown to this node')
  })
})
