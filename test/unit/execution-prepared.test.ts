// Supervisor.prepare against real processes: the attempt is forked behind the gate and runs
// nothing of the job until start() opens it; a prepared attempt that is never started, or whose
// allocation is removed, or whose supervisor stops, is killed without having run anything.
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Supervisor, allocationDir } from '../../src/execution/index.js'
import { launch, output, processGone, spec, tempDir, waitFor } from '../fixtures/execution/helpers.js'

/** The pid of the process whose working directory is `dir` (a prepared gate), if any. */
function processIn(dir: string): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (readlinkSync(`/proc/${entry}/cwd`) === dir && !processGone(Number(entry))) return Number(entry)
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return undefined
}

/** Waits until the prepared gate of `allocationId` is up, and returns its pid. */
async function gateOf(root: string, allocationId: string): Promise<number> {
  const dir = allocationDir(root, allocationId)
  let pid: number | undefined
  await waitFor(() => (pid = processIn(dir)) !== undefined, `the prepared process of ${allocationId}`)
  return pid as number
}

/** A job that leaves a mark in its directory when it runs, and says so on stdout. */
const MARKING = ['sh', '-c', 'echo ran > mark; echo "ran with $MURMUR_ALLOC_ID"']

describe('Supervisor.prepare', () => {
  const tmp = tempDir('exec-prepared')
  let sup: Supervisor

  beforeAll(() => {
    sup = new Supervisor({ allocationsDir: tmp.dir, graceMs: 300, preparedTtlMs: 400 })
  })
  afterAll(async () => {
    await sup.stopAll()
    tmp.cleanup()
  })

  it('forks the process behind the gate: nothing of the job runs until start(), which runs it as that process', async () => {
    const s = spec(MARKING)
    sup.prepare(s)
    const pid = await gateOf(tmp.dir, s.allocationId)
    // Still the gate shell, waiting to be let go: the job has not run.
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toContain('murmur-gate')
    expect(existsSync(join(allocationDir(tmp.dir, s.allocationId), 'mark'))).toBe(false)
    const run = launch(sup, s)
    expect(run.pid).toBe(pid)
    expect(await run.exit).toMatchObject({ exitCode: 0, reason: 'exited' })
    expect(await output(sup, s.allocationId)).toBe(`ran with ${s.allocationId}\n`)
    expect(existsSync(join(allocationDir(tmp.dir, s.allocationId), 'mark'))).toBe(true)
  })

  it('keeps argv verbatim and the job\'s exit code, as an unprepared start does', async () => {
    const s = spec(['sh', '-c', 'echo "$0" "$1"; exit 7', '$HOME', '* ; ls'])
    sup.prepare(s)
    await gateOf(tmp.dir, s.allocationId)
    expect(await launch(sup, s).exit).toMatchObject({ exitCode: 7, reason: 'exited' })
    expect(await output(sup, s.allocationId)).toBe('$HOME * ; ls\n')
  })

  it('kills a prepared process that is not started in time; a later start spawns the job anew', async () => {
    const s = spec(MARKING)
    sup.prepare(s)
    const pid = await gateOf(tmp.dir, s.allocationId)
    await waitFor(() => processGone(pid), 'the unused prepared process to be killed')
    expect(existsSync(join(allocationDir(tmp.dir, s.allocationId), 'mark'))).toBe(false)
    expect(await launch(sup, s).exit).toMatchObject({ exitCode: 0, reason: 'exited' })
    expect(await output(sup, s.allocationId)).toBe(`ran with ${s.allocationId}\n`)
  })

  it('starts anew when the prepared process died before its start', async () => {
    const s = spec(MARKING)
    sup.prepare(s)
    const pid = await gateOf(tmp.dir, s.allocationId)
    process.kill(pid, 'SIGKILL')
    await waitFor(() => processGone(pid), 'the killed gate to be gone')
    const run = launch(sup, s)
    expect(run.pid).not.toBe(pid)
    expect(await run.exit).toMatchObject({ exitCode: 0, reason: 'exited' })
  })

  it('remove() of a prepared allocation kills its process', async () => {
    const s = spec(MARKING)
    sup.prepare(s)
    const pid = await gateOf(tmp.dir, s.allocationId)
    await sup.remove(s.allocationId)
    await waitFor(() => processGone(pid), 'the removed allocation\'s prepared process to be gone')
    expect(existsSync(allocationDir(tmp.dir, s.allocationId))).toBe(false)
  })

  it('prepares nothing for a missing binary or a bad spec; their start reports spawn-failed', async () => {
    const missing = spec(['/nonexistent/murmur-test-binary'])
    sup.prepare(missing)
    sup.prepare(spec(['true'], { allocationId: '../escape.0.1' }))
    expect(processIn(allocationDir(tmp.dir, missing.allocationId))).toBeUndefined()
    expect(await launch(sup, missing).exit).toMatchObject({ reason: 'spawn-failed', exitCode: null })
  })

  it('stopAll() kills prepared processes too', async () => {
    const own = new Supervisor({ allocationsDir: join(tmp.dir, 'own'), graceMs: 300 })
    const s = spec(MARKING)
    own.prepare(s)
    const pid = await gateOf(join(tmp.dir, 'own'), s.allocationId)
    await own.stopAll()
    await waitFor(() => processGone(pid), 'the prepared process to be gone after stopAll')
    expect(existsSync(join(allocationDir(join(tmp.dir, 'own'), s.allocationId), 'mark'))).toBe(false)
  })
})
