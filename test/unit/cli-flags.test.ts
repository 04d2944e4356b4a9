// `murmur agent` and `murmur up` flag parsing, table-driven: defaults, env fallbacks (flags win),
// and one case per rejected input, each a FlagError with a one-line reason naming the culprit.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { FlagError, isLoopback, isLoopbackHost, parseAgentFlags, type MachineDefaults } from '../../src/cli/agent-flags.js'
import { clientOptions } from '../../src/cli/client.js'
import { parseUpFlags } from '../../src/cli/commands/up.js'
import { newSwarmKey } from '../../src/cli/commands/keygen.js'

const MACHINE: MachineDefaults = { hostname: 'box', homedir: '/home/u', cwd: '/work', cpus: 8, memoryMb: 16384 }
const PEER = '12D3KooWGzBa8yGXhYCmDWw2tzbjEJ7RuAoGtvdXa3xwPpMWiHTy'
const JOIN = `/ip4/127.0.0.1/tcp/7000/p2p/${PEER}`

const dir = mkdtempSync(path.join(tmpdir(), 'murmur-cli-flags-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const keyFile = path.join(dir, 'swarm.key')
writeFileSync(keyFile, newSwarmKey())
const badKeyFile = path.join(dir, 'bad.key')
writeFileSync(badKeyFile, 'not a key\n')

const parse = (argv: string[], env: Record<string, string> = {}) => parseAgentFlags(argv, env, MACHINE)

describe('parseAgentFlags', () => {
  it('defaults come from the machine and the contract', () => {
    expect(parse([])).toEqual({
      name: 'box', dataDir: '/home/u/.murmur/box', p2pPort: 7000, p2pHost: '127.0.0.1', apiPort: 7070,
      apiHost: '127.0.0.1', join: [], mdns: true, cpu: 8, memoryMb: 16384, labels: {}, profile: 'lan',
      colocated: true, logLevel: 'info', drainTimeoutMs: 10_000, cells: 1, jobRetentionMs: 3_600_000,
    })
  })

  it('takes every flag', () => {
    const config = parse([
      '--name', 'n1', '--data-dir', 'data/n1', '--p2p-port', '0', '--p2p-host', '0.0.0.0', '--api-port', '8080',
      '--api-host', '::', '--join', JOIN, '--join', `/ip4/10.0.0.2/tcp/7000/p2p/${PEER}`, '--no-mdns',
      '--cpu', '1.5', '--mem', '512', '--label', 'zone=a', '--label', 'disk=', '--swarm-key', keyFile,
      '--api-token', 'tok', '--profile', 'test', '--log-level', 'DEBUG', '--drain-timeout', '2.5',
      '--cells', '4', '--log-format', 'JSON', '--job-retention', '90s',
    ])
    expect(config).toEqual({
      name: 'n1', dataDir: '/work/data/n1', p2pPort: 0, p2pHost: '0.0.0.0', apiPort: 8080, apiHost: '::',
      join: [JOIN, `/ip4/10.0.0.2/tcp/7000/p2p/${PEER}`], mdns: false, cpu: 1.5, memoryMb: 512,
      labels: { zone: 'a', disk: '' }, swarmKeyFile: keyFile, apiToken: 'tok', profile: 'test', colocated: false,
      logLevel: 'debug', drainTimeoutMs: 2_500, cells: 4, logFormat: 'json', jobRetentionMs: 90_000,
    })
  })

  it('falls back to MURMUR_* env vars', () => {
    const config = parse([], {
      MURMUR_NAME: 'e1', MURMUR_DATA_DIR: '/d', MURMUR_P2P_PORT: '7100', MURMUR_API_PORT: '7200',
      MURMUR_API_HOST: 'localhost', MURMUR_P2P_HOST: '127.0.0.2', MURMUR_JOIN: `${JOIN}, ${JOIN}`,
      MURMUR_NO_MDNS: '1', MURMUR_CPU: '2', MURMUR_MEM: '1024', MURMUR_LABEL: 'zone=b,tier=gold',
      MURMUR_SWARM_KEY: keyFile, MURMUR_API_TOKEN: 'secret', MURMUR_PROFILE: 'test', MURMUR_LOG_LEVEL: 'warn',
      MURMUR_DRAIN_TIMEOUT: '0', MURMUR_CELLS: '4096', MURMUR_JOB_RETENTION: '500ms',
    })
    expect(config).toEqual({
      name: 'e1', dataDir: '/d', p2pPort: 7100, p2pHost: '127.0.0.2', apiPort: 7200, apiHost: 'localhost',
      join: [JOIN, JOIN], mdns: false, cpu: 2, memoryMb: 1024, labels: { zone: 'b', tier: 'gold' },
      swarmKeyFile: keyFile, apiToken: 'secret', profile: 'test', colocated: true, logLevel: 'warn', drainTimeoutMs: 0,
      cells: 4096, jobRetentionMs: 500,
    })
  })

  it('flags win over env; lists are replaced, not merged; empty env vars count as unset', () => {
    const config = parse(['--name', 'f', '--label', 'zone=f', '--p2p-port', '7001'], {
      MURMUR_NAME: 'e', MURMUR_LABEL: 'zone=e,x=y', MURMUR_P2P_PORT: '9', MURMUR_API_PORT: '', MURMUR_NO_MDNS: '0',
    })
    expect(config).toMatchObject({ name: 'f', labels: { zone: 'f' }, p2pPort: 7001, apiPort: 7070, mdns: true, dataDir: '/home/u/.murmur/f' })
  })

  it.each<[string, string[], Record<string, string>, RegExp]>([
    ['a port that is not a number', ['--p2p-port', 'nope'], {}, /^--p2p-port: 'nope' is not a port/],
    ['a drain timeout that is not seconds', ['--drain-timeout', 'soon'], {}, /^--drain-timeout: 'soon' is not a number of seconds from 0 to 3600/],
    ['zero cells', ['--cells', '0'], {}, /^--cells: '0' is not a whole number \(1-4096\)/],
    ['a retention that is not a duration', ['--job-retention', 'an hour'], {}, /^--job-retention: 'an hour' is not a duration from 1ms to 365d/],
    ['a retention over a year', ['--job-retention', '400d'], {}, /^--job-retention: '400d' is not a duration/],
    ['more cells than MAX_CELLS', ['--cells', '4097'], {}, /^--cells: '4097' is not a whole number \(1-4096\)/],
    ['cells that are not a whole number', ['--cells', '2.5'], {}, /^--cells: '2.5' is not a whole number/],
    ['bad cells from env, named by its variable', [], { MURMUR_CELLS: 'two' }, /^MURMUR_CELLS: 'two' is not a whole number/],
    ['a port out of range', ['--api-port', '70000'], {}, /^--api-port: '70000' is not a port/],
    ['a negative port', ['--api-port=-1'], {}, /^--api-port: '-1' is not a port/],
    ['a bad port from env, named by its variable', [], { MURMUR_API_PORT: 'x' }, /^MURMUR_API_PORT: 'x' is not a port/],
    ['the same port twice', ['--p2p-port', '7070'], {}, /both 7070/],
    ['zero cpu', ['--cpu', '0'], {}, /^--cpu: '0' is not a positive number/],
    ['negative cpu', ['--cpu=-2'], {}, /^--cpu: '-2' is not a positive number/],
    ['non-integer memory', ['--mem', '1.5'], {}, /^--mem: '1.5' is not a whole number/],
    ['zero memory', ['--mem', '0'], {}, /^--mem: '0' is not a whole number/],
    ['a label without =', ['--label', 'zone'], {}, /^--label: 'zone' is not key=value/],
    ['a label with an empty key', ['--label', '=a'], {}, /^--label: '=a' is not key=value/],
    ['a label key with spaces', ['--label', 'my zone=a'], {}, /label key 'my zone' is not valid/],
    ['a label given twice', ['--label', 'a=1', '--label', 'a=2'], {}, /label 'a' given twice/],
    ['a bad label from env', [], { MURMUR_LABEL: 'ok=1,bad' }, /^MURMUR_LABEL: 'bad' is not key=value/],
    ['a join address that is not a multiaddr', ['--join', 'localhost:7000'], {}, /^--join: 'localhost:7000' is not a multiaddr/],
    ['a join address without /p2p/', ['--join', '/ip4/127.0.0.1/tcp/7000'], {}, /has no \/p2p\/<peer id> part/],
    ['a join address with a bad peer id', ['--join', '/ip4/127.0.0.1/tcp/7000/p2p/xyz'], {}, /'xyz' .* is not a peer id/],
    ['an unreadable swarm key file', ['--swarm-key', path.join(dir, 'missing.key')], {}, /^--swarm-key: cannot read .*missing\.key \(ENOENT\)/],
    ['a file that is not a swarm key', ['--swarm-key', badKeyFile], {}, /bad\.key is not a swarm key/],
    ['an unknown profile', ['--profile', 'wan'], {}, /^--profile: 'wan' is not a profile/],
    ['an unknown log level', ['--log-level', 'loud'], {}, /^--log-level: 'loud' is not a log level/],
    ['an unknown log format', ['--log-format', 'xml'], {}, /^--log-format: 'xml' is not a log format \(auto, json, pretty\)/],
    ['an API on all interfaces without a token', ['--api-host', '0.0.0.0'], {},
      /^--api-host: 0\.0\.0\.0 is reachable from other machines and the API runs any command on this one; set --api-token/],
    ['an API on a LAN address without a token, from env', [], { MURMUR_API_HOST: '10.0.0.5' }, /^MURMUR_API_HOST: 10\.0\.0\.5 is reachable/],
    ['an API on a host name without a token', ['--api-host', 'box.lan'], {}, /^--api-host: box\.lan is reachable/],
    ['a p2p host that is not an IP', ['--p2p-host', 'localhost'], {}, /^--p2p-host: 'localhost' is not an IP address/],
    ['a name with a slash', ['--name', 'a/b'], {}, /^--name: 'a\/b' is not a valid name/],
    ['an empty api token', ['--api-token', ''], {}, /^--api-token: the token must be non-empty/],
    ['a bad boolean in env', [], { MURMUR_NO_MDNS: 'maybe' }, /^MURMUR_NO_MDNS: 'maybe' is not a boolean/],
    ['an unknown flag', ['--bogus'], {}, /^unknown option '--bogus'$/],
    ['a flag without its value', ['--name'], {}, /^option '--name <value>' argument missing$/],
    ['a positional argument', ['extra'], {}, /^unexpected argument 'extra'$/],
  ])('rejects %s', (_what, argv, env, reason) => {
    let error: unknown
    try {
      parse(argv, env)
    } catch (err) {
      error = err
    }
    expect(error).toBeInstanceOf(FlagError)
    const message = (error as Error).message
    expect(message).toMatch(reason)
    expect(message).not.toContain('\n')
  })

  it.each([['127.0.0.1', true], ['127.1.2.3', true], ['::1', true], ['0.0.0.0', false], ['10.0.0.1', false], ['::', false]])(
    'isLoopback(%s) = %s', (host, expected) => {
      expect(isLoopback(host as string)).toBe(expected)
    },
  )

  it('an API on a loopback address or localhost needs no token; elsewhere it starts with one', () => {
    for (const host of ['127.0.0.1', '127.0.0.2', '::1', 'localhost', 'LOCALHOST']) expect(parse(['--api-host', host]).apiHost).toBe(host)
    expect(parse(['--api-host', '0.0.0.0', '--api-token', 't'])).toMatchObject({ apiHost: '0.0.0.0', apiToken: 't' })
    expect(isLoopbackHost('localhost.evil.example')).toBe(false)
  })
})

describe('parseUpFlags', () => {
  it('defaults to 3 nodes on 7000/7070 under ./.murmur', () => {
    expect(parseUpFlags([], '/work')).toEqual({
      count: 3, baseP2pPort: 7000, baseApiPort: 7070, dataRoot: '/work/.murmur', profile: 'lan', logLevel: 'info',
      readyTimeoutMs: 30_000, cells: 1,
    })
  })

  it('takes -n and the extensions', () => {
    expect(parseUpFlags(['-n', '5', '--base-p2p-port', '0', '--base-api-port', '0', '--data-root', '/tmp/x', '--profile', 'test', '--ready-timeout', '5', '--cells', '2'], '/work'))
      .toMatchObject({ count: 5, baseP2pPort: 0, baseApiPort: 0, dataRoot: '/tmp/x', profile: 'test', readyTimeoutMs: 5000, cells: 2 })
  })

  it.each<[string[], RegExp]>([
    [['-n', '0'], /^-n: '0' is not a whole number \(1-64\)/],
    [['-n', 'three'], /^-n: 'three'/],
    [['--base-api-port', '65535', '-n', '2'], /past port 65535/],
    [['-n', '100'], /1-64/],
    [['-n', '20', '--base-p2p-port', '7060'], /overlap/],
    [['--profile', 'x'], /is not a profile/],
    [['--cells', '0'], /^--cells: '0' is not a whole number \(1-4096\)/],
  ])('rejects %j', (argv, reason) => {
    expect(() => parseUpFlags(argv, '/work')).toThrow(reason)
  })
})

describe('clientOptions', () => {
  it('takes --api, then MURMUR_API, then the default; the token from --token or MURMUR_API_TOKEN', () => {
    expect(clientOptions({}, {})).toEqual({ baseUrl: 'http://127.0.0.1:7070' })
    expect(clientOptions({}, { MURMUR_API: 'http://h:1/', MURMUR_API_TOKEN: 't' })).toEqual({ baseUrl: 'http://h:1', token: 't' })
    expect(clientOptions({ api: 'https://x', token: 'u' }, { MURMUR_API: 'http://h:1', MURMUR_API_TOKEN: 't' }))
      .toEqual({ baseUrl: 'https://x', token: 'u' })
  })

  it('rejects what is not an http(s) URL', () => {
    expect(() => clientOptions({ api: 'localhost:7070' }, {})).toThrow(/--api: 'localhost:7070' is not an http\(s\) URL|is not a URL/)
    expect(() => clientOptions({}, { MURMUR_API: 'nope' })).toThrow(/^MURMUR_API: 'nope' is not a URL/)
  })
})
