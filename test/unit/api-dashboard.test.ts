// What the API adds for the web dashboard: the shell and its files (served without a token, the
// same bytes everywhere), CORS for pages of member agents only, the event history behind
// /v1/events/recent, and the member-state history in /v1/nodes.
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { RECENT_EVENTS } from '../../src/api/event-history.js'
import { createApiServer, type ApiServerOptions } from '../../src/api/server.js'
import type { ClusterEvent } from '../../src/core/types.js'
import { fakeView, node, sseClients, type FakeView } from '../support/api-view.js'

const apps: FastifyInstance[] = []
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()))
})

async function server(opts: ApiServerOptions = {}, view: FakeView = fakeView()): Promise<{ app: FastifyInstance; view: FakeView }> {
  const app = await createApiServer(view, opts)
  apps.push(app)
  return { app, view }
}

const MEMBER = 'http://127.0.0.1:7071'
const FOREIGN = 'http://evil.example:7071'

describe('the dashboard files', () => {
  it('GET / is the shell: html under a CSP that runs only its own files', async () => {
    const { app } = await server()
    const res = await app.inject({ url: '/' })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toMatch(/^text\/html/)
    const csp = String(res.headers['content-security-policy'])
    expect(csp).toContain("default-src 'none'")
    expect(csp).toContain("script-src 'self'")
    expect(csp).not.toContain('unsafe-inline')
    expect(res.body).toContain('<script type="module" src="/ui/app.js">')
    expect(res.body).not.toMatch(/(src|href)="https?:/)
  })

  it('every file the shell names is served, and the script bundle builds', async () => {
    const { app } = await server()
    const shell = (await app.inject({ url: '/' })).body
    const files = [...shell.matchAll(/(?:src|href)="(\/ui\/[^"]+)"/g)].map((m) => m[1]!)
    expect(files).toEqual(expect.arrayContaining(['/ui/app.js', '/ui/style.css', '/ui/icon.svg']))
    for (const url of files) expect((await app.inject({ url })).statusCode, url).toBe(200)
    const script = await app.inject({ url: '/ui/app.js' })
    expect(script.headers['content-type']).toMatch(/^text\/javascript/)
    expect(script.body).toContain('/v1/events')
    expect(script.body).toContain('sourceMappingURL=app.js.map')
    expect((await app.inject({ url: '/ui/app.js.map' })).json()).toMatchObject({ version: 3 })
  }, 30_000)

  it('answers 304 to a matching If-None-Match', async () => {
    const { app } = await server()
    const first = await app.inject({ url: '/ui/style.css' })
    const etag = String(first.headers['etag'])
    expect(etag).toMatch(/^"[\w-]+"$/)
    const again = await app.inject({ url: '/ui/style.css', headers: { 'if-none-match': etag } })
    expect(again.statusCode).toBe(304)
    expect(again.body).toBe('')
  })

  it('are the same bytes whatever the node, cluster or token: nothing about the cluster is in them', async () => {
    const secretNode = node('12D3KooWSECRETPEER', 'secret-node-name', 'alive', 'http://10.9.8.7:7070')
    const a = await server({ token: 'tok-a' }, { ...fakeView([secretNode]), name: 'secret-node-name', nodeId: '12D3KooWSECRETPEER' })
    const b = await server({}, fakeView())
    for (const url of ['/', '/ui/app.js', '/ui/style.css', '/ui/icon.svg']) {
      const fromA = await a.app.inject({ url })
      const fromB = await b.app.inject({ url })
      expect(fromA.statusCode, url).toBe(200)
      expect(fromA.rawPayload.equals(fromB.rawPayload), url).toBe(true)
      for (const secret of ['secret-node-name', 'SECRETPEER', '10.9.8.7', 'tok-a']) expect(fromA.body, url).not.toContain(secret)
    }
  }, 30_000)
})

describe('CORS', () => {
  it('answers a member API origin, and not another origin', async () => {
    const { app } = await server()
    const member = await app.inject({ url: '/v1/nodes', headers: { origin: MEMBER } })
    expect(member.headers['access-control-allow-origin']).toBe(MEMBER)
    expect(String(member.headers['access-control-expose-headers'])).toContain('x-murmur-log-offset')
    expect(String(member.headers['vary'])).toContain('Origin')
    expect(member.headers['access-control-allow-credentials']).toBeUndefined()
    const foreign = await app.inject({ url: '/v1/nodes', headers: { origin: FOREIGN } })
    expect(foreign.headers['access-control-allow-origin']).toBeUndefined()
  })

  it('a member origin gets its preflight without a token; a foreign one gets 401', async () => {
    const { app } = await server({ token: 's3cret' })
    const preflight = (origin: string) => app.inject({
      method: 'OPTIONS', url: '/v1/jobs',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
    })
    const member = await preflight(MEMBER)
    expect(member.statusCode).toBe(204)
    expect(member.headers['access-control-allow-origin']).toBe(MEMBER)
    expect(String(member.headers['access-control-allow-headers'])).toContain('authorization')
    expect(String(member.headers['access-control-allow-methods'])).toContain('DELETE')
    const foreign = await preflight(FOREIGN)
    expect(foreign.statusCode).toBe(401)
    expect(foreign.headers['access-control-allow-origin']).toBeUndefined()
  })

  it('a refusal to a member origin is readable by its page (the 401 says why)', async () => {
    const { app } = await server({ token: 's3cret' })
    const res = await app.inject({ url: '/v1/nodes', headers: { origin: MEMBER } })
    expect(res.statusCode).toBe(401)
    expect(res.headers['access-control-allow-origin']).toBe(MEMBER)
    expect(res.json()).toMatchObject({ error: { code: 'unauthorized' } })
  })

  it('a page of another site cannot change anything, whatever the request looks like', async () => {
    const { app } = await server()
    const drain = (origin: string | undefined, host = '127.0.0.1:7070') => app.inject({
      method: 'POST', url: '/v1/nodes/n2/drain', payload: {},
      headers: { host, 'content-type': 'application/json', ...(origin === undefined ? {} : { origin }) },
    })
    const foreign = await drain(FOREIGN)
    expect(foreign.statusCode).toBe(403)
    expect(foreign.json().error).toEqual({ code: 'forbidden_origin', message: `a page from ${FOREIGN} may not change this cluster (only pages served by its agents may)` })
    expect((await drain('null')).statusCode).toBe(403)
    // The CLI (no Origin), the page's own agent (same origin, also under another loopback name) and a member's page.
    expect((await drain(undefined)).statusCode).toBe(202)
    expect((await drain('http://localhost:7070', 'localhost:7070')).statusCode).toBe(202)
    expect((await drain(MEMBER)).statusCode).toBe(202)
    // Reading is not refused (the browser hides the answer from a foreign page anyway).
    expect((await app.inject({ url: '/v1/nodes', headers: { origin: FOREIGN } })).statusCode).toBe(200)
  })

  it('the event stream carries the CORS headers too', async () => {
    const { app, view } = await server({ closeGraceMs: 100 })
    const url = await app.listen({ host: '127.0.0.1', port: 0 })
    const abort = new AbortController()
    const res = await fetch(`${url}/v1/events`, { headers: { origin: MEMBER }, signal: abort.signal })
    expect(res.status).toBe(200)
    expect(res.headers.get('access-control-allow-origin')).toBe(MEMBER)
    abort.abort()
    for (let i = 0; i < 200 && await sseClients(view) > 0; i++) await new Promise((r) => setTimeout(r, 10))
  })
})

describe('event history', () => {
  const dead = (to: 'suspect' | 'dead', by: string): ClusterEvent =>
    ({ type: 'node', node: '12D3KooWBBBB', name: 'n2', from: to === 'suspect' ? 'alive' : 'suspect', to, incarnation: 1, reason: `claimed by ${by}` })

  it('GET /v1/events/recent lists the last events, oldest first, each stamped', async () => {
    const { app, view } = await server()
    expect((await app.inject({ url: '/v1/events/recent' })).json()).toEqual({ events: [] })
    for (let i = 0; i < RECENT_EVENTS + 5; i++) view.emit({ type: 'job', job: `j-${i}`, name: 'x', state: 'pending' })
    const { events } = (await app.inject({ url: '/v1/events/recent' })).json() as { events: Array<{ job: string; at: string }> }
    expect(events).toHaveLength(RECENT_EVENTS)
    expect(events[0]!.job).toBe('j-5')
    expect(events.at(-1)!.job).toBe(`j-${RECENT_EVENTS + 4}`)
    expect(events.every((e) => !Number.isNaN(Date.parse(e.at)))).toBe(true)
  })

  it('/v1/nodes says since when and why a node is in its state, as this node saw it', async () => {
    const nodes = [node('12D3KooWAAAA', 'n1'), node('12D3KooWBBBB', 'n2', 'dead', MEMBER)]
    const { app, view } = await server({}, fakeView(nodes))
    const plain = (await app.inject({ url: '/v1/nodes/n2' })).json()
    expect(plain.stateSince).toBeUndefined()
    expect(plain.stateChanges).toBeUndefined()
    view.emit(dead('suspect', 'n1'))
    view.emit(dead('dead', 'n3'))
    const n2 = (await app.inject({ url: '/v1/nodes/n2' })).json()
    expect(n2.stateChanges).toEqual([
      { at: expect.any(String), from: 'alive', to: 'suspect', reason: 'claimed by n1' },
      { at: expect.any(String), from: 'suspect', to: 'dead', reason: 'claimed by n3' },
    ])
    expect(n2.stateSince).toBe(n2.stateChanges[1].at)
    // The list shows the same, and leaves nodes it saw no change of as they were.
    const { nodes: listed } = (await app.inject({ url: '/v1/nodes' })).json() as { nodes: Array<Record<string, unknown>> }
    expect(listed.find((n) => n['name'] === 'n2')).toEqual(n2)
    expect(listed.find((n) => n['name'] === 'n1')).toEqual(nodes[0])
  })

  it('a draining node is dated by its alive change; a stale change dates nothing', async () => {
    const nodes = [node('12D3KooWAAAA', 'n1', 'draining'), node('12D3KooWBBBB', 'n2', 'alive', MEMBER)]
    const { app, view } = await server({}, fakeView(nodes))
    view.emit({ type: 'node', node: '12D3KooWAAAA', name: 'n1', from: 'unknown', to: 'alive', incarnation: 1, reason: 'joined' })
    // The node list says alive, but the last change this node saw was a suspicion (it missed the refutation).
    view.emit(dead('suspect', 'n1'))
    const { nodes: listed } = (await app.inject({ url: '/v1/nodes' })).json() as { nodes: Array<Record<string, unknown>> }
    expect(listed[0]!['stateSince']).toEqual(expect.any(String))
    expect(listed[1]!['stateSince']).toBeUndefined()
    expect(listed[1]!['stateChanges']).toHaveLength(1)
  })
})
