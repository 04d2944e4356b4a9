// The job commands: `run` flags -> JobSpec (pure, table-driven), and run --wait / status / logs /
// stop as real processes (bin/murmur.js) against a small fake API that plays scripted jobs: each
// GET /v1/jobs/:id shows the next frame, and the log endpoint serves that frame's output.
import { execFile } from 'node:child_process'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { JobSpec, JobStatus } from '../../src/core/job-types.js'
import { FlagError } from '../../src/cli/flags.js'
import { exitCodeOf } from '../../src/cli/job-follow.js'
import { formatJob, formatJobs, shellQuote } from '../../src/cli/job-format.js'
import { parseRunArgs, splitRunArgv } from '../../src/cli/run-flags.js'

describe('murmur run flags', () => {
  it.each([
    [['--', 'echo', 'hi'], { command: ['echo', 'hi'] }],
    [['ls', '-l'], { command: ['ls', '-l'] }],
    [['--cpu', '0.5', 'sh', '-c', 'x'], { command: ['sh', '-c', 'x'], resources: { cpu: 0.5 } }],
    [['--mem=256', '--', 'x'], { command: ['x'], resources: { memoryMb: 256 } }],
    [['--name', 'web', '--count', '3', '--type', 'service', '--', 'srv', '--port', '80'],
      { command: ['srv', '--port', '80'], name: 'web', count: 3, type: 'service' }],
    [['--label-constraint', 'zone=a', '--label-constraint', 'disk!=hdd', '--', 'x'],
      { command: ['x'], constraints: [{ label: 'zone', op: '=', value: 'a' }, { label: 'disk', op: '!=', value: 'hdd' }] }],
    [['--env', 'A=1', '--env', 'B=x=y', '--env', 'C=', '--', 'x'], { command: ['x'], env: { A: '1', B: 'x=y', C: '' } }],
    [['--timeout', '1.5', '--retries', '2', '--backoff', '0', '--', 'x'],
      { command: ['x'], timeoutMs: 1500, restart: { attempts: 2, backoffMs: 0 } }],
    [['--timeout', '0', '--', 'x'], { command: ['x'], timeoutMs: 0 }],
    [['--no-replace', '--', 'x'], { command: ['x'], disconnect: { replace: false } }],
    [['--reconcile', 'keep_replacement', '--stop-after', '5', '--', 'x'],
      { command: ['x'], disconnect: { reconcile: 'keep_replacement', stopAfterMs: 5000 } }],
  ])('%j -> %j', (argv, spec) => {
    expect(parseRunArgs(argv).spec).toEqual(spec)
  })

  it('reads --wait, --idempotency-key and the client flags apart from the spec', () => {
    expect(parseRunArgs(['--wait', '--idempotency-key', ' k1 ', '--api', 'http://h:1', '--', 'x'])).toEqual({
      spec: { command: ['x'] }, wait: true, idempotencyKey: 'k1', client: { api: 'http://h:1', token: undefined },
    })
    expect(splitRunArgv(['--name', '--', '--', 'a'])).toEqual({ flags: ['--name', '--'], command: ['a'] })
  })

  it.each([
    [[], 'missing the command to run (murmur run [flags] -- CMD [ARGS...])'],
    [['--'], 'missing the command to run (murmur run [flags] -- CMD [ARGS...])'],
    [['--cpu', 'lots', 'x'], "--cpu: 'lots' is not a positive number"],
    [['--cpu', '2000', 'x'], "--cpu: '2000' is not between 0 and 1024 cpus"],
    [['--mem', '0.5', 'x'], "--mem: '0.5' is not between 1 and 16777216 MB"],
    [['--count', '0', 'x'], "--count: '0' is not a whole number (1-10000)"],
    [['--type', 'cron', 'x'], "--type: 'cron' is not batch or service"],
    [['--label-constraint', '=a', 'x'], "--label-constraint: '=a' is not key=value or key!=value"],
    [['--env', 'NOVALUE', 'x'], "--env: 'NOVALUE' is not key=value"],
    [['--retries=-1', 'x'], "--retries: '-1' is not a whole number (0-1000)"],
    [['--retries', '-1', 'x'], "option '--retries' argument is ambiguous"],
    [['--timeout', 'soon', 'x'], "--timeout: 'soon' is not a positive number"],
    [['--reconcile', 'newest', 'x'], "--reconcile: 'newest' is not one of keep_original, keep_replacement, longest_running, best_score"],
    [['--stop-after', 'never', 'x'], "--stop-after: 'never' is not a positive number"],
    [['--bogus', 'x'], "unknown option '--bogus'"],
    [['--', 'x', ''], 'the command has an empty argument'],
  ])('%j is a FlagError: %s', (argv, message) => {
    expect(() => parseRunArgs(argv)).toThrow(new FlagError(message))
  })
})

const SPEC: JobSpec = {
  name: 'x', command: ['x'], env: {}, resources: { cpu: 0.1, memoryMb: 64 }, count: 1, type: 'batch',
  constraints: [], restart: { attempts: 1, backoffMs: 0 }, timeoutMs: 0,
}
type Alloc = JobStatus['allocations'][number]
const a = (attempt: number, state: Alloc['state'], exitCode: number | null = null, index = 0): Alloc => ({
  index, attempt, nodeId: `peer-n${attempt + 1}`, nodeName: `n${attempt + 1}`, state, exitCode,
  startedAt: state === 'claimed' ? null : '2024-01-01T00:00:01.000Z',
  finishedAt: ['running', 'claimed'].includes(state) ? null : `2024-01-01T00:00:0${attempt + 1}.000Z`,
})
const job = (id: string, state: JobStatus['state'], allocations: Alloc[], extra: Partial<JobStatus> = {}): JobStatus =>
  ({ id, name: 'x', type: 'batch', state, submittedAt: '2024-01-01T00:00:00.000Z', spec: SPEC, allocations, ...extra })

/** A frame: what GET /v1/jobs/:id answers (undefined: 404), and each attempt's output then. */
interface Frame { status?: JobStatus; logs?: Record<string, string> }

const BIG = 'z'.repeat(1_500_000) + '\n'
function scenario(id: string): Frame[] {
  switch (id) {
    // j-ok is unknown to the node at first (gossip lag after the submit); run --wait waits for it.
    case 'j-ok': return [{}, ...scenario('j-follow')]
    case 'j-follow': return [
      { status: job(id, 'pending', [], { pendingReason: 'waiting for offers' }) },
      { status: job(id, 'running', [a(1, 'claimed')]) },
      { status: job(id, 'running', [a(1, 'running')]), logs: { '0.1/stdout': 'hello\n' } },
      { status: job(id, 'running', [a(1, 'running')]), logs: { '0.1/stdout': 'hello\nworld\n', '0.1/stderr': 'warn\n' } },
      { status: job(id, 'succeeded', [a(1, 'succeeded', 0)]), logs: { '0.1/stdout': 'hello\nworld\n', '0.1/stderr': 'warn\n' } },
    ]
    case 'j-fail': return [
      { status: job(id, 'running', [a(1, 'running')]), logs: { '0.1/stdout': 'try 1\n' } },
      { status: job(id, 'running', [a(1, 'failed', 2), a(2, 'claimed')]), logs: { '0.1/stdout': 'try 1\nbye 1\n' } },
      { status: job(id, 'running', [a(1, 'failed', 2), a(2, 'running')]), logs: { '0.1/stdout': 'try 1\nbye 1\n', '0.2/stdout': 'try 2\n' } },
      { status: job(id, 'failed', [a(1, 'failed', 2), a(2, 'failed', 3)]), logs: { '0.1/stdout': 'try 1\nbye 1\n', '0.2/stdout': 'try 2\n' } },
    ]
    case 'j-cancel': return [
      { status: job(id, 'running', [a(1, 'running')]), logs: { '0.1/stdout': 'x\n' } },
      { status: job(id, 'cancelled', [a(1, 'cancelled')]), logs: { '0.1/stdout': 'x\n' } },
    ]
    case 'j-big': return [{ status: job(id, 'succeeded', [a(1, 'succeeded', 0)]), logs: { '0.1/stdout': BIG } }]
    default: return []
  }
}

interface Fake { url: string; server: Server; posts: Array<{ body: unknown; key: string | undefined }>; deletes: string[] }

function fakeApi(): Promise<Fake> {
  const at = new Map<string, number>()
  const fake: Omit<Fake, 'url' | 'server'> = { posts: [], deletes: [] }
  const frame = (id: string): Frame | undefined => scenario(id)[Math.min(at.get(id) ?? 0, scenario(id).length - 1)]
  const send = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
  }
  const error = (res: ServerResponse, status: number, code: string, message: string): void => send(res, status, { error: { code, message } })
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://x')
    const [, , , id, sub] = url.pathname.split('/')
    let body = ''
    for await (const chunk of req) body += String(chunk)
    if (req.method === 'POST' && url.pathname === '/v1/jobs') {
      const spec = JSON.parse(body) as { command: string[] }
      fake.posts.push({ body: spec, key: req.headers['idempotency-key'] as string | undefined })
      return send(res, 201, { id: `j-${spec.command[0]}` })
    }
    if (req.method === 'GET' && url.pathname === '/v1/jobs') return send(res, 200, { jobs: [scenario('j-big')[0]?.status, scenario('j-fail')[3]?.status] })
    if (id === undefined || scenario(id).length === 0) return error(res, 404, 'not_found', `no job ${id}`)
    if (req.method === 'DELETE') { fake.deletes.push(id); return send(res, 202, { id, state: 'cancelled' }) }
    if (sub === undefined) {
      const f = frame(id)
      at.set(id, (at.get(id) ?? 0) + 1)
      return f?.status === undefined ? error(res, 404, 'not_found', `no job ${id}`) : send(res, 200, f.status)
    }
    const f = frame(id)
    const allocs = (f?.status?.allocations ?? []).filter((x) => x.index === Number(url.searchParams.get('index') ?? 0))
    const attempt = url.searchParams.get('attempt') ?? String(Math.max(0, ...allocs.map((x) => x.attempt)))
    const text = f?.logs?.[`${url.searchParams.get('index') ?? 0}.${attempt}/${url.searchParams.get('stream') ?? 'stdout'}`]
    if (text === undefined) return error(res, 404, 'no_log', 'no log yet')
    const from = Math.min(Number(url.searchParams.get('offset') ?? 0), text.length)
    const data = text.slice(from, from + (1 << 20))
    res.writeHead(200, { 'content-type': 'text/plain', 'x-murmur-log-offset': String(from + data.length) }).end(data)
  }
  const server = createServer((req, res) => { void handle(req, res) })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () =>
    resolve({ ...fake, server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })))
}

const BIN = fileURLToPath(new URL('../../bin/murmur.js', import.meta.url))
interface Run { code: number | null; stdout: string; stderr: string }
let api: Fake

function murmur(...args: string[]): Promise<Run> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MURMUR_')))
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...clean, MURMUR_API: api.url }, timeout: 30_000, maxBuffer: 8 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr })
    })
  })
}

beforeAll(async () => { api = await fakeApi() })
afterAll(async () => { await new Promise((resolve) => api.server.close(resolve)) })

describe('murmur run', () => {
  it('posts only the given fields and prints just the id', async () => {
    const run = await murmur('run', '--cpu', '0.5', '--idempotency-key', 'k1', '--', 'ok', '-c', 'x')
    expect(run).toEqual({ code: 0, stdout: 'j-ok\n', stderr: '' })
    expect(api.posts.at(-1)).toEqual({ body: { command: ['ok', '-c', 'x'], resources: { cpu: 0.5 } }, key: 'k1' })
  })

  it('a bad flag is one line, exit 2, and nothing is submitted', async () => {
    const before = api.posts.length
    const run = await murmur('run', '--count', 'many', '--', 'ok')
    expect(run).toEqual({ code: 2, stdout: '', stderr: "murmur: --count: 'many' is not a whole number (1-10000)\n" })
    expect(api.posts.length).toBe(before)
  })

  it('--wait follows pending -> running -> succeeded, copies the output and exits 0', async () => {
    const run = await murmur('run', '--wait', '--', 'ok')
    expect(run.code).toBe(0)
    expect(run.stdout).toBe('hello\nworld\n')
    expect(run.stderr).toBe([
      'murmur: job j-ok submitted', 'murmur: job j-ok pending: waiting for offers',
      'murmur: job j-ok claimed on n2 (instance 0, attempt 1)', 'murmur: job j-ok running on n2 (instance 0, attempt 1)',
      'warn', 'murmur: job j-ok succeeded', '',
    ].join('\n'))
  })

  it('--wait follows a restart into the new attempt and exits with the last exit code', async () => {
    const run = await murmur('run', '--wait', '--', 'fail')
    expect(run.code).toBe(3)
    expect(run.stdout).toBe('try 1\nbye 1\ntry 2\n')
    expect(run.stderr).toContain('murmur: job j-fail failed on n2 (instance 0, attempt 1, exit 2)\n')
    expect(run.stderr).toContain('murmur: job j-fail instance 0 restarted (attempt 2); following its output\n')
    expect(run.stderr).toMatch(/murmur: job j-fail failed \(exit 3\)\n$/)
  })

  it('--wait exits 130 when the job is cancelled', async () => {
    const run = await murmur('run', '--wait', '--', 'cancel')
    expect(run.code).toBe(130)
    expect(run.stdout).toBe('x\n')
    expect(run.stderr).toMatch(/murmur: job j-cancel cancelled\n$/)
  })
})

describe('murmur status, logs, stop', () => {
  it('status lists jobs; status JOB shows the allocations; --json is the raw answer', async () => {
    // Independent runs, in parallel: each process start costs a second or two.
    const [list, one, json, missing] = await Promise.all([
      murmur('status'), murmur('status', 'j-big'), murmur('status', 'j-big', '--json'), murmur('status', 'j-nope'),
    ])
    expect(list.code).toBe(0)
    const [header, ...rows] = list.stdout.trimEnd().split('\n')
    expect(header).toMatch(/^ID\s+NAME\s+TYPE\s+STATE\s+INSTANCES\s+SUBMITTED\s+PENDING-REASON$/)
    expect(rows.map((r) => r.split(/\s+/).slice(0, 5))).toEqual([['j-big', 'x', 'batch', 'succeeded', '0/1'], ['j-fail', 'x', 'batch', 'failed', '0/1']])
    expect(one.stdout).toMatch(/^ID\s+j-big$/m)
    expect(one.stdout).toMatch(/^INDEX\s+ATTEMPT\s+NODE\s+STATE\s+EXIT\s+STARTED\s+FINISHED\s+REASON\n0\s+1\s+n2\s+succeeded\s+0\s/m)
    expect(JSON.parse(json.stdout)).toEqual(scenario('j-big')[0]?.status)
    expect(missing).toEqual({ code: 1, stdout: '', stderr: 'murmur: no job j-nope (not_found)\n' })
  })

  it('logs reads a log bigger than one answer to the end', async () => {
    const run = await murmur('logs', 'j-big')
    expect(run.code).toBe(0)
    expect(run.stdout.length).toBe(BIG.length)
  })

  it('logs --follow copies the output until the job ends', async () => {
    const run = await murmur('logs', 'j-follow', '--follow')
    expect(run).toEqual({ code: 0, stdout: 'hello\nworld\n', stderr: '' })
  })

  it('stop cancels; an unknown job is one line and exit 1', async () => {
    const [ok, missing, bare] = await Promise.all([murmur('stop', 'j-ok'), murmur('stop', 'j-nope'), murmur('stop')])
    expect(ok).toEqual({ code: 0, stdout: 'murmur: job j-ok cancelled\n', stderr: '' })
    expect(missing).toEqual({ code: 1, stdout: '', stderr: 'murmur: no job j-nope (not_found)\n' })
    expect(bare).toEqual({ code: 2, stdout: '', stderr: 'murmur: missing the JOB to stop\n' })
    expect(api.deletes).toEqual(['j-ok'])
  })
})

describe('job output helpers', () => {
  it('exit codes: succeeded 0, cancelled 130, failed the last failed attempt or 1', () => {
    expect(exitCodeOf(job('j', 'succeeded', [a(1, 'succeeded', 0)]))).toBe(0)
    expect(exitCodeOf(job('j', 'cancelled', []))).toBe(130)
    expect(exitCodeOf(job('j', 'failed', [a(2, 'failed', 7), a(1, 'failed', 2)]))).toBe(7)
    expect(exitCodeOf(job('j', 'failed', [a(1, 'failed', null)]))).toBe(1)
  })

  it('formats a table and quotes argv for a shell', () => {
    const running = job('j-1', 'running', [a(1, 'failed', 1), a(2, 'running'), a(1, 'claimed', null, 1)], { spec: { ...SPEC, count: 2 } })
    const pending = job('j-2', 'pending', [], { pendingReason: 'r'.repeat(80), submittedAt: '2024-01-01T00:00:05.000Z' })
    const [, row1, row2] = formatJobs([pending, running], Date.parse('2024-01-01T00:00:10.000Z')).trimEnd().split('\n')
    expect(row1?.split(/\s+/)).toEqual(['j-1', 'x', 'batch', 'running', '1/2', '10.0s'])
    expect(row2?.split(/\s+/)).toEqual(['j-2', 'x', 'batch', 'pending', '0/1', '5.0s', `${'r'.repeat(59)}…`])
    expect(shellQuote(['sh', '-c', "echo 'hi' $X"])).toBe(`sh -c 'echo '\\''hi'\\'' $X'`)
  })

  it('shows one job with where it is stored, a drain move and a stopped duplicate', () => {
    const moved = { ...a(2, 'running'), replaces: 1 }
    const text = formatJob(job('j-1', 'running', [a(1, 'cancelled'), moved], {
      storedOn: ['n1', 'n2', 'n3'],
      duplicates: [{ index: 0, attempt: 1, nodeId: 'peer-n2', nodeName: 'n2', stoppedAt: '2024-01-01T00:00:04.000Z' }],
    }), Date.parse('2024-01-01T00:00:10.000Z'))
    expect(text).toMatch(/^Stored on +n1, n2, n3$/m)
    expect(text).toMatch(/^Duplicates +instance 0 attempt 1 also ran on n2, stopped 6\.0s ago$/m)
    expect(text).toMatch(/replaces attempt 1 \(drain\)/)
  })
})
