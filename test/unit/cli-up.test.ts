// `murmur up`'s process supervision against a fake agent script (real processes, no libp2p):
// node 1 first and the rest joined to it, stderr into <data dir>/agent.log, a failed or slow
// node failing the whole start with its log tail, SIGTERM then SIGKILL on stop.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { formatReadyLine, parseReadyLine } from '../../src/cli/agent-handshake.js'
import { AGENT_NODE_FLAGS } from '../../src/cli/agent-node-flags.js'
import { formatClusterSummary } from '../../src/cli/commands/up.js'
import { LocalCluster, NodeStartError, clusterSpecs, type ClusterOptions } from '../../src/cli/local-cluster.js'

const dir = mkdtempSync(path.join(tmpdir(), 'murmur-up-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

// Behaves like `murmur agent` as far as `up` can tell; FAKE_* env vars pick a misbehaviour.
const FAKE_AGENT = path.join(dir, 'fake-agent.mjs')
writeFileSync(FAKE_AGENT, `
const args = process.argv.slice(2)
const flag = (f) => { const i = args.indexOf(f); return i >= 0 ? args[i + 1] : undefined }
const name = flag('--name')
const joins = args.filter((_, i) => args[i - 1] === '--join')
process.stderr.write('fake ' + name + ' cmd=' + args[0] + ' supervised=' + process.env.MURMUR_SUPERVISED + ' join=' + joins.join(',') + ' node-flags=' + process.execArgv.join(' ') + '\\n')
if (process.env.FAKE_FAIL === name) { process.stderr.write('fake ' + name + ': address in use\\n'); process.exit(3) }
if (process.env.FAKE_STUBBORN === name) process.on('SIGTERM', () => process.stderr.write('ignoring SIGTERM\\n'))
else process.on('SIGTERM', () => { process.stderr.write('fake ' + name + ' stopping\\n'); process.exit(0) })
setInterval(() => {}, 1000)
if (process.env.FAKE_HANG !== name) {
  setTimeout(() => process.stdout.write('murmur: ready name=' + name + ' peer=P' + name + ' api=http://127.0.0.1:1' + name.slice(1) +
    ' p2p=/ip4/127.0.0.1/tcp/1/p2p/P' + name + '\\n'), 20)
}
`)

function options(over: Partial<ClusterOptions> = {}): ClusterOptions {
  return {
    count: 3, baseP2pPort: 0, baseApiPort: 0, dataRoot: mkdtempSync(path.join(dir, 'root-')), profile: 'test',
    logLevel: 'info', readyTimeoutMs: 20_000, cells: 1, ...over,
  }
}

const clusters: LocalCluster[] = []
afterEach(async () => {
  await Promise.all(clusters.splice(0).map((c) => c.stop(500)))
})

function cluster(): LocalCluster {
  const c = new LocalCluster()
  clusters.push(c)
  return c
}

describe('clusterSpecs', () => {
  it('names nodes n<k> and gives node k the ports base+k-1, data under the root', () => {
    const specs = clusterSpecs(options({ baseP2pPort: 7000, baseApiPort: 7070, dataRoot: '/r' }), '/bin/m.js', {})
    expect(specs.map((s) => [s.name, s.dataDir])).toEqual([['n1', '/r/n1'], ['n2', '/r/n2'], ['n3', '/r/n3']])
    expect(specs[2]?.args).toEqual([
      '--name', 'n3', '--data-dir', '/r/n3', '--p2p-host', '127.0.0.1', '--p2p-port', '7002',
      '--api-host', '127.0.0.1', '--api-port', '7072', '--no-mdns', '--profile', 'test', '--log-level', 'info',
    ])
    expect(clusterSpecs(options(), '/bin/m.js', {})[1]?.args).toContain('0')
  })

  it('passes --cells to every node when it is not 1', () => {
    expect(clusterSpecs(options(), '/bin/m.js', {}).some((s) => s.args.includes('--cells'))).toBe(false)
    const specs = clusterSpecs(options({ cells: 2 }), '/bin/m.js', {})
    expect(specs.every((s) => s.args.join(' ').endsWith('--cells 2'))).toBe(true)
  })
})

describe('LocalCluster', () => {
  it('starts node 1, joins the others to its p2p address, logs stderr, and stops them all', async () => {
    const c = cluster()
    const opts = options()
    const infos = await c.start(clusterSpecs(opts, FAKE_AGENT, process.env), 2_000)
    expect(infos.map((i) => i.name)).toEqual(['n1', 'n2', 'n3'])
    const log2 = readFileSync(path.join(opts.dataRoot, 'n2', 'agent.log'), 'utf8')
    expect(log2).toMatch(/^--- murmur up: starting n2 at /)
    expect(log2).toContain(`fake n2 cmd=agent supervised=1 join=/ip4/127.0.0.1/tcp/1/p2p/Pn1 node-flags=${AGENT_NODE_FLAGS.join(' ')}\n`)
    expect(readFileSync(path.join(opts.dataRoot, 'n1', 'agent.log'), 'utf8')).toContain(`join= node-flags=${AGENT_NODE_FLAGS.join(' ')}\n`)

    await c.stop(2_000)
    const exits = await Promise.all(c.nodes.map((n) => n.exited))
    expect(exits).toEqual(Array(3).fill({ code: 0, signal: null }))
  })

  it('a node that exits before it is ready fails the start with its log tail, and stops the rest', async () => {
    const c = cluster()
    const specs = clusterSpecs(options(), FAKE_AGENT, { ...process.env, FAKE_FAIL: 'n2' })
    const error = await c.start(specs, 2_000).catch((err: unknown) => err)
    expect(error).toBeInstanceOf(NodeStartError)
    expect((error as NodeStartError).message).toBe('n2 exited before it was ready (exit code 3)')
    expect((error as NodeStartError).logTail).toContain('fake n2: address in use')
    expect((error as NodeStartError).logTail).toMatch(/^--- murmur up: starting n2 at /)
    expect(c.nodes.every((n) => n.hasExited)).toBe(true)
  })

  it('a node that never gets ready times out', async () => {
    const c = cluster()
    const specs = clusterSpecs(options({ count: 1, readyTimeoutMs: 300 }), FAKE_AGENT, { ...process.env, FAKE_HANG: 'n1' })
    await expect(c.start(specs, 2_000)).rejects.toThrow('n1 not ready after 0.3s')
    expect(c.nodes[0]?.hasExited).toBe(true)
  })

  it('a node that ignores SIGTERM is killed after the grace period', async () => {
    const c = cluster()
    await c.start(clusterSpecs(options({ count: 1 }), FAKE_AGENT, { ...process.env, FAKE_STUBBORN: 'n1' }), 2_000)
    await c.stop(200)
    expect(await c.nodes[0]?.exited).toEqual({ code: null, signal: 'SIGKILL' })
  })
})

describe('ready line and summary', () => {
  it('round-trips the ready line and ignores other lines', () => {
    const info = { name: 'n1', peer: '12D3KooWX', api: 'http://127.0.0.1:7070', p2p: '/ip4/127.0.0.1/tcp/7000/p2p/12D3KooWX' }
    expect(formatReadyLine(info)).toBe('murmur: ready name=n1 peer=12D3KooWX api=http://127.0.0.1:7070 p2p=/ip4/127.0.0.1/tcp/7000/p2p/12D3KooWX')
    expect(parseReadyLine(formatReadyLine(info))).toEqual(info)
    expect(parseReadyLine('murmur: something else')).toBeUndefined()
  })

  it('prints a table, the dashboard URL and a hint that matches the API', () => {
    const info = (k: number, api: string) => ({ name: `n${k}`, peer: `P${k}`, api, p2p: `/ip4/127.0.0.1/tcp/${7000 + k}/p2p/P${k}` })
    const text = formatClusterSummary([{ info: info(1, 'http://127.0.0.1:7070'), pid: 11 }, { info: info(2, 'http://127.0.0.1:7071'), pid: 12 }])
    expect(text.split('\n').slice(0, 3)).toEqual([
      'NAME  PEER  PID  P2P                             API',
      'n1    P1    11   /ip4/127.0.0.1/tcp/7001/p2p/P1  http://127.0.0.1:7070',
      'n2    P2    12   /ip4/127.0.0.1/tcp/7002/p2p/P2  http://127.0.0.1:7071',
    ])
    expect(text).toContain('dashboard: http://127.0.0.1:7070/\ntry: npx murmur nodes\n')
    expect(formatClusterSummary([{ info: info(1, 'http://127.0.0.1:9000'), pid: 1 }])).toContain('try: npx murmur nodes --api http://127.0.0.1:9000')
  })
})
