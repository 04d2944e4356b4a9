// A tiny `npm run bench` (scripts/bench.ts) through its CLI: 3 real agents, a handful of jobs,
// one run each of the placement, latency, messages and throughput measurements. It catches the
// bench rotting (an API shape it reads changed, a module broke) in well under a minute; it judges
// no figure, since the machine's load decides those.
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const ROOT = resolve(import.meta.dirname, '../..')
const RUN_LIMIT_MS = 90_000

interface CliRun { code: number | null; stdout: string; stderr: string }

function bench(args: string[]): Promise<CliRun> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/bench.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    // SIGINT, as Ctrl-C would: the bench stops its agents before exiting.
    const timer = setTimeout(() => child.kill('SIGINT'), RUN_LIMIT_MS)
    child.once('error', rej)
    child.once('exit', (code) => { clearTimeout(timer); res({ code, stdout, stderr }) })
  })
}

const dir = mkdtempSync(join(tmpdir(), 'murmur-bench-smoke-'))
const out = join(dir, 'results.json')
let run: CliRun
let json: Record<string, unknown>

beforeAll(async () => {
  run = await bench(['--json', '--only', 'placement,latency,messages,throughput', '--agents', '3', '--runs', '1',
    '--latency-jobs', '3', '--messages-jobs', '2', '--background-s', '1', '--throughput-jobs', '10', '--placement-ms', '50', '--out', out])
  const lines = run.stdout.trim().split('\n')
  json = JSON.parse(lines[lines.length - 1] as string) as Record<string, unknown>
}, RUN_LIMIT_MS + 20_000)

afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('npm run bench (smoke)', () => {
  it('finishes without errors and prints the results as the last line of stdout, as results.json has them', () => {
    if (run.code !== 0) console.error(run.stderr.slice(-3000))
    expect(run.code).toBe(0)
    expect(json.errors).toEqual([])
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(json)
    // The markdown table comes before it.
    expect(run.stdout).toContain('| placement decisions (100 nodes) |')
  })

  it('has every key the contract names, measured where it ran and null where it did not', () => {
    const pos = (v: unknown): void => { expect(typeof v === 'number' && v > 0, `${JSON.stringify(v)} > 0`).toBe(true) }
    const pair = (v: unknown): { p50: unknown; p99: unknown } => v as { p50: unknown; p99: unknown }
    expect(json.agents).toBe(3)
    pos(json.placementDecisionsPerSec)
    pos(pair(json.submitToStartMs).p50)
    pos(pair(json.submitToStartMs).p99)
    pos(pair(json.submitToDoneMs).p50)
    pos(json.throughputJobsPerSec)
    pos(json.bareSpawnPerSec)
    // A job is at least stored on 3 nodes, offered and started: more than 3 messages.
    expect(json.messagesPerJob as number).toBeGreaterThan(3)
    expect((json.messagesByType as Record<string, number>)['rpc:store-job']).toBeGreaterThan(0)
    for (const key of ['submitToStartLoadedMs', 'failoverMs', 'detectMs']) expect(json[key]).toEqual({ p50: null, p99: null })
    expect(json.joinConvergeMs).toEqual({ 3: null, 10: null, 30: null, 50: null })
    for (const key of ['idleCpuPercentPerAgent', 'rssMbPerAgent', 'rssMbAfterJobs']) expect(json[key]).toBeNull()
    const goals = json.goals as Array<{ figure: string; met: boolean | null }>
    expect(goals.find((g) => g.figure === 'placementDecisionsPerSec')?.met).not.toBeNull()
    expect(goals.find((g) => g.figure === 'failoverMs.p99')?.met).toBeNull()
  })
})

describe('npm run bench flags', () => {
  it('refuses a bad flag with exit status 2 and the usage, starting nothing', async () => {
    const r = await bench(['--only', 'nonsense'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('--only takes names from')
    expect(r.stderr).toContain('usage: npm run bench')
  })
})
