// The Supervisor against real processes, in the memory mode this machine supports (whatever the
// default probe picks). Memory limits: execution-memory.test.ts; cgroup plumbing:
// execution-cgroup.test.ts.
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Supervisor, allocationDir, type ExitInfo } from '../../src/execution/index.js'
import { livePidByEnvironment } from '../../src/execution/orphans.js'
import { launch, nextId, output, processGone, spec, tempDir, waitFor, waitForOutput } from '../fixtures/execution/helpers.js'

/** Short grace so the SIGKILL path is exercised in well under a second. */
const GRACE_MS = 300

// Every behaviour holds whether the processes are forked by the spawner process (the default) or
// by this process.
describe.each([{ spawner: true }, { spawner: false }])('Supervisor (%o)', ({ spawner }) => {
  const tmp = tempDir('exec')
  let sup: Supervisor

  beforeAll(async () => {
    sup = new Supervisor({ allocationsDir: tmp.dir, graceMs: GRACE_MS, spawner })
    if (!spawner) return
    // Until the spawner is ready this process forks the jobs: the tests below are the spawner's.
    expect(await launch(sup, spec(['true'])).exit).toMatchObject({ exitCode: 0 })
    await waitFor(() => sup.spawnerPid() !== undefined, 'the spawner to be ready')
  })
  afterAll(async () => {
    await sup.stopAll()
    tmp.cleanup()
  })

  it('reports the memory enforcement mode and why', () => {
    expect(['cgroup', 'rss-poll']).toContain(sup.memoryEnforcement)
    expect(sup.memoryEnforcementReason).not.toBe('')
  })

  it('records exit code 0 and 3, with start and finish times', async () => {
    const ok = launch(sup, spec(['true']))
    const three = launch(sup, spec(['sh', '-c', 'exit 3']))
    expect(await ok.pid).toBeGreaterThan(0)
    const [a, b] = await Promise.all([ok.exit, three.exit])
    expect(a).toMatchObject({ exitCode: 0, signal: null, reason: 'exited' })
    expect(b).toMatchObject({ exitCode: 3, signal: null, reason: 'exited' })
    expect(b.finishedAt).toBeGreaterThanOrEqual(b.startedAt)
    expect(sup.running()).toEqual([])
  })

  it('writes stdout and stderr to files in the allocation dir', async () => {
    const s = spec(['sh', '-c', 'echo to-out; echo to-err >&2'])
    await launch(sup, s).exit
    const dir = allocationDir(tmp.dir, s.allocationId)
    expect(sup.logPath(s.allocationId, 'stdout')).toBe(join(dir, 'stdout.log'))
    expect(readFileSync(join(dir, 'stdout.log'), 'utf8')).toBe('to-out\n')
    expect(readFileSync(join(dir, 'stderr.log'), 'utf8')).toBe('to-err\n')
  })

  it('gives the job its env, the MURMUR_* identity and a minimal base, not the agent env', async () => {
    process.env.MURMUR_TEST_AGENT_SECRET = 'leak'
    try {
      const s = spec(['env'], { allocationId: 'web-7.2.3', env: { FOO: 'bar baz', MURMUR_JOB_ID: 'spoofed' } })
      await launch(sup, s).exit
      const env = Object.fromEntries((await output(sup, s.allocationId)).trim().split('\n').map((l) => l.split(/=(.*)/s).slice(0, 2)))
      expect(env).toMatchObject({
        FOO: 'bar baz', MURMUR_JOB_ID: 'web-7', MURMUR_ALLOC_ID: 'web-7.2.3', MURMUR_ALLOC_INDEX: '2', MURMUR_ATTEMPT: '3',
        HOME: allocationDir(tmp.dir, s.allocationId), MURMUR_ALLOC_DIR: allocationDir(tmp.dir, s.allocationId),
      })
      expect(env.PATH).toBeTruthy()
      expect(env.LANG).toBeTruthy()
      expect(env.MURMUR_TEST_AGENT_SECRET).toBeUndefined()
    } finally {
      delete process.env.MURMUR_TEST_AGENT_SECRET
    }
  })

  it('runs argv without a shell: $HOME stays literal', async () => {
    const s = spec(['echo', '$HOME', '*', '; ls'])
    await launch(sup, s).exit
    expect(await output(sup, s.allocationId)).toBe('$HOME * ; ls\n')
  })

  it('on timeout, kills the whole process group, grandchildren included', async () => {
    const s = spec(['sh', '-c', 'sleep 60 & echo $! > grandchild.pid; echo started; wait'], { timeoutMs: 400 })
    const run = launch(sup, s)
    const info = await run.exit
    expect(info).toMatchObject({ reason: 'timeout', exitCode: null, signal: 'SIGTERM' })
    expect(info.finishedAt - info.startedAt).toBeGreaterThanOrEqual(400)
    const grandchild = Number(readFileSync(join(allocationDir(tmp.dir, s.allocationId), 'grandchild.pid'), 'utf8'))
    expect(grandchild).toBeGreaterThan(0)
    // onExit comes only after the whole group is gone: no polling needed here.
    expect(processGone(grandchild)).toBe(true)
    expect(processGone((await run.pid) ?? -1)).toBe(true)
  })

  it('stop(): a process that ignores SIGTERM is SIGKILLed after graceMs', async () => {
    const s = spec(['sh', '-c', 'trap "" TERM; echo ready; sleep 60; echo survived'])
    const run = launch(sup, s)
    await waitForOutput(sup, s.allocationId, 'ready')
    const t0 = Date.now()
    await sup.stop(s.allocationId, 'killed')
    const elapsed = Date.now() - t0
    expect(await run.exit).toMatchObject({ reason: 'killed', exitCode: null, signal: 'SIGKILL' })
    expect(elapsed).toBeGreaterThanOrEqual(GRACE_MS - 5)
    expect(elapsed).toBeLessThan(GRACE_MS + 2_000)
    expect(await output(sup, s.allocationId)).toBe('ready\n')
  })

  it('stop(): a cooperative process ends on SIGTERM without waiting for the grace', async () => {
    const patient = new Supervisor({ allocationsDir: tmp.dir, graceMs: 30_000, cgroupRoot: null, spawner })
    const s = spec(['sleep', '60'])
    const run = launch(patient, s)
    const t0 = Date.now()
    await patient.stop(s.allocationId, 'killed')
    expect(Date.now() - t0).toBeLessThan(5_000)
    expect(await run.exit).toMatchObject({ reason: 'killed', signal: 'SIGTERM' })
    await patient.stopAll()
  })

  it('stop() of an unknown allocation resolves at once', async () => {
    await expect(sup.stop('nothing.0.1', 'killed')).resolves.toBeUndefined()
  })

  it('kills what the leader leaves behind, before reporting its exit', async () => {
    const s = spec(['sh', '-c', 'sleep 60 & echo $! > bg.pid; exit 0'])
    const info = await launch(sup, s).exit
    expect(info).toMatchObject({ reason: 'exited', exitCode: 0 })
    const bg = Number(readFileSync(join(allocationDir(tmp.dir, s.allocationId), 'bg.pid'), 'utf8'))
    expect(processGone(bg)).toBe(true)
  })

  it('reports a missing binary as spawn-failed, never by throwing', async () => {
    const s = spec(['/nonexistent/murmur-no-such-binary', 'x'])
    const run = launch(sup, s)
    expect(await run.pid).toBeUndefined()
    const info = await run.exit
    expect(info.reason).toBe('spawn-failed')
    expect(info.message).toMatch(/ENOENT/)
    expect(await output(sup, s.allocationId, 'stderr')).toMatch(/murmur: cannot start .*ENOENT/)
    expect(sup.running()).toEqual([])
  })

  it('rejects a bad spec through onExit, asynchronously', async () => {
    const bad = [
      spec(['true'], { allocationId: '../escape.0.1' }),
      spec(['true'], { allocationId: 'no-index' }),
      spec([]),
      spec(['true'], { env: { 'BAD NAME': 'x' } }),
      spec(['true'], { memoryMb: 0 }),
    ]
    let returned = false
    const calledAfterReturn: boolean[] = []
    const infos = bad.map((s) => new Promise<ExitInfo>((resolve) => sup.start(s, (i) => { calledAfterReturn.push(returned); resolve(i) })))
    returned = true
    for (const info of await Promise.all(infos)) expect(info.reason).toBe('spawn-failed')
    expect(calledAfterReturn).toEqual(bad.map(() => true))
    expect(existsSync(join(tmp.dir, '..', 'escape.0.1'))).toBe(false)
  })

  it('refuses a second start of a running allocation id', async () => {
    const s = spec(['sleep', '60'])
    const first = launch(sup, s)
    const second = await launch(sup, s).exit
    expect(second).toMatchObject({ reason: 'spawn-failed' })
    expect(second.message).toMatch(/already running/)
    await sup.stop(s.allocationId, 'killed')
    expect((await first.exit).reason).toBe('killed')
  })

  it('survives an onExit callback that throws', async () => {
    sup.start(spec(['true']), () => { throw new Error('caller bug') })
    const after = await launch(sup, spec(['true'])).exit
    expect(after.reason).toBe('exited')
  })

  it('logPath refuses ids that are not a safe path segment', () => {
    expect(() => sup.logPath('../../etc/passwd', 'stdout')).toThrow(RangeError)
  })

  it('stopAll() kills everything it started and refuses new work', async () => {
    const own = new Supervisor({ allocationsDir: tmp.dir, graceMs: GRACE_MS, spawner })
    const stubborn = spec(['sh', '-c', 'trap "" TERM; sleep 60 & echo $! > bg.pid; sleep 60'])
    const bgFile = join(allocationDir(tmp.dir, stubborn.allocationId), 'bg.pid')
    const runs = [spec(['sleep', '60']), stubborn].map((s) => launch(own, s))
    await waitFor(() => existsSync(bgFile) && readFileSync(bgFile, 'utf8').endsWith('\n'), 'the background pid')
    await own.stopAll()
    for (const r of runs) {
      expect((await r.exit).reason).toBe('killed')
      expect(processGone((await r.pid) ?? -1)).toBe(true)
    }
    expect(processGone(Number(readFileSync(bgFile, 'utf8')))).toBe(true)
    expect(own.running()).toEqual([])
    expect((await launch(own, spec(['true'])).exit).message).toMatch(/shut down/)
  })

  it('reapOrphans() kills groups a crashed agent left behind', async () => {
    const crashed = new Supervisor({ allocationsDir: tmp.dir, graceMs: GRACE_MS, spawner })
    const s = spec(['sh', '-c', 'sleep 60 & sleep 60'], { allocationId: nextId('orphan') })
    const run = launch(crashed, s)
    await waitFor(() => existsSync(join(allocationDir(tmp.dir, s.allocationId), 'murmur.pid')), 'pid file')
    // A new agent on the same directory: it never started s, so s is an orphan to it.
    const next = new Supervisor({ allocationsDir: tmp.dir, graceMs: GRACE_MS, spawner })
    expect(await next.reapOrphans()).toEqual([s.allocationId])
    expect((await run.exit).signal).toBe('SIGKILL')
    expect(await next.reapOrphans()).toEqual([])
    await Promise.all([crashed.stopAll(), next.stopAll()])
  })

  it('a job whose pid file was never written is found by its environment, and reaped', async () => {
    const crashed = new Supervisor({ allocationsDir: tmp.dir, graceMs: GRACE_MS, spawner })
    const s = spec(['sh', '-c', 'sleep 60 & sleep 60'], { allocationId: nextId('unrecorded') })
    const run = launch(crashed, s)
    const dir = allocationDir(tmp.dir, s.allocationId)
    const pid = await run.pid
    // What a spawner killed between the fork and its write leaves: the job runs, no pid file.
    rmSync(join(dir, 'murmur.pid'))
    expect(livePidByEnvironment(dir)).toBe(pid)
    expect(livePidByEnvironment(allocationDir(tmp.dir, nextId('none')))).toBeNull()
    const next = new Supervisor({ allocationsDir: tmp.dir, graceMs: GRACE_MS, spawner })
    expect(await next.reapOrphans()).toEqual([s.allocationId])
    expect((await run.exit).signal).toBe('SIGKILL')
    expect(livePidByEnvironment(dir)).toBeNull()
    await Promise.all([crashed.stopAll(), next.stopAll()])
  })
})
