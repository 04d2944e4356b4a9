// The `murmur` command as users run it: real processes through bin/murmur.js, checking exit
// codes and that failures are exactly one line on stderr. `nodes` talks to a real API server
// backed by a fake view, so no agent (and no libp2p) is started here.
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import { Registry } from 'prom-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AgentView } from '../../src/api/agent-view.js'
import { createApiServer } from '../../src/api/server.js'
import type { NodeStatus } from '../../src/core/types.js'

const BIN = fileURLToPath(new URL('../../bin/murmur.js', import.meta.url))
const dir = mkdtempSync(path.join(tmpdir(), 'murmur-cli-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

interface Run { code: number | null; stdout: string; stderr: string }

function murmur(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    // MURMUR_* from the developer's shell must not leak into these runs.
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MURMUR_')))
    execFile(process.execPath, [BIN, ...args], { env: { ...clean, ...env }, cwd: dir, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null
      resolve({ code, stdout, stderr })
    })
  })
}

/** A port nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

const KEY_FORMAT = /^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}\n$/

describe('murmur', () => {
  it('--help lists the commands and exits 0', async () => {
    const run = await murmur(['--help'])
    expect(run.code).toBe(0)
    for (const cmd of ['up', 'agent', 'nodes', 'keygen']) expect(run.stdout).toContain(cmd)
    expect(run.stderr).toBe('')
  })

  it('<cmd> --help prints that command\'s usage', async () => {
    const run = await murmur(['agent', '--help'])
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/^usage: murmur agent/)
    expect(run.stdout).toContain('--swarm-key FILE')
  })

  it('an unknown command is one line on stderr and exit 2', async () => {
    const run = await murmur(['bogus'])
    expect(run.code).toBe(2)
    expect(run.stdout).toBe('')
    expect(run.stderr).toBe("murmur: unknown command 'bogus' (see murmur --help)\n")
  })

  it('a bad agent flag is one line on stderr and a non-zero exit, before anything starts', async () => {
    const run = await murmur(['agent', '--p2p-port', 'nope'])
    expect(run.code).toBe(2)
    expect(run.stdout).toBe('')
    expect(run.stderr).toBe("murmur: --p2p-port: 'nope' is not a port (0-65535)\n")
  })

  it('an unknown flag is one line and exit 2', async () => {
    const run = await murmur(['nodes', '--bogus'])
    expect(run.code).toBe(2)
    expect(run.stderr).toBe("murmur: unknown option '--bogus'\n")
  })
})

describe('murmur keygen', () => {
  it('writes a pnet key to FILE with mode 0600, and refuses to overwrite it without --force', async () => {
    const file = path.join(dir, 'swarm.key')
    const first = await murmur(['keygen', file])
    expect(first.code).toBe(0)
    const key = readFileSync(file, 'utf8')
    expect(key).toMatch(KEY_FORMAT)
    expect(statSync(file).mode & 0o777).toBe(0o600)

    const again = await murmur(['keygen', file])
    expect(again.code).toBe(1)
    expect(again.stderr).toBe(`murmur: ${file} exists; use --force to overwrite it\n`)
    expect(readFileSync(file, 'utf8')).toBe(key)

    const forced = await murmur(['keygen', '--force', file])
    expect(forced.code).toBe(0)
    expect(readFileSync(file, 'utf8')).toMatch(KEY_FORMAT)
    expect(readFileSync(file, 'utf8')).not.toBe(key)
  })

  it('tightens the mode of a file it overwrites', async () => {
    const file = path.join(dir, 'loose.key')
    writeFileSync(file, 'old', { mode: 0o644 })
    expect((await murmur(['keygen', '--force', file])).code).toBe(0)
    expect(statSync(file).mode & 0o777).toBe(0o600)
  })

  it('writes to stdout without FILE', async () => {
    const run = await murmur(['keygen'])
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(KEY_FORMAT)
  })
})

describe('murmur nodes', () => {
  const node: NodeStatus = {
    id: '12D3KooWGzBa8yGXhYCmDWw2tzbjEJ7RuAoGtvdXa3xwPpMWiHTy', name: 'n1', state: 'alive', incarnation: 1,
    addrs: [], api: 'http://127.0.0.1:7070', resources: { total: { cpu: 4, memoryMb: 2048 }, free: { cpu: 3.5, memoryMb: 1920 } },
    labels: {}, allocations: 2, lastSeenMs: 1500,
  }
  let app: FastifyInstance
  let url: string
  beforeAll(async () => {
    const view: AgentView = {
      jobs: async () => [], job: async () => undefined, readLocalLog: async () => undefined,
      submitJob: async () => ({ status: 503, body: {} }), cancelJob: async () => ({ status: 404, body: {} }),
      drainNode: async () => ({ status: 202, body: {} }), storedOn: () => [],
      nodeId: node.id, name: node.name, nodes: () => [node], node: () => node,
      subscribe: () => () => undefined, metrics: new Registry(),
    }
    app = await createApiServer(view, { token: 'tok' })
    url = await app.listen({ host: '127.0.0.1', port: 0 })
  })
  afterAll(async () => { await app.close() })

  it('prints an aligned table', async () => {
    const run = await murmur(['nodes', '--api', url], { MURMUR_API_TOKEN: 'tok' })
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    const [header, row] = run.stdout.trimEnd().split('\n')
    expect(header).toMatch(/^NAME\s+STATE\s+ID\s+CPU\(free\/total\)\s+MEM\(free\/total\)\s+ALLOCS\s+LAST-SEEN\s+API$/)
    expect(row?.split(/\s+/)).toEqual(['n1', 'alive', node.id.slice(-8), '3.5/4', '1920/2048', '2', '1.5s', 'http://127.0.0.1:7070'])
  })

  it('--json prints the API answer', async () => {
    const run = await murmur(['nodes', '--json', '--token', 'tok'], { MURMUR_API: url })
    expect(run.code).toBe(0)
    expect(JSON.parse(run.stdout)).toEqual({ nodes: [node] })
  })

  it('an API error becomes one line and a non-zero exit', async () => {
    const run = await murmur(['nodes', '--api', url])
    expect(run.code).toBe(1)
    expect(run.stdout).toBe('')
    expect(run.stderr).toBe('murmur: missing bearer token (Authorization: Bearer <token>) (unauthorized)\n')
  })

  it('an unreachable node becomes one line and a non-zero exit', async () => {
    const port = await closedPort()
    const run = await murmur(['nodes', '--api', `http://127.0.0.1:${port}`])
    expect(run.code).toBe(1)
    expect(run.stderr).toBe(`murmur: cannot reach http://127.0.0.1:${port}: ECONNREFUSED\n`)
  })
})
