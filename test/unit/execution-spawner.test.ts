// The spawner process (src/execution/spawner.mjs) that forks jobs for the supervisor: jobs are
// its children, and losing it loses no run. What it must keep of the supervisor's behaviour
// (logs, env, stop, timeout, orphans) is checked by execution.test.ts in both modes.
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { allocationDir, type Supervisor } from '../../src/execution/index.js'
import { writePidFile } from '../../src/execution/orphans.js'
import { DirectLauncher, SpawnerLauncher, type Launcher, type LaunchEvents } from '../../src/execution/spawner-client.js'
import { launch, nextId, output, processGone, spec, supervisorPool, waitFor, waitForOutput } from '../fixtures/execution/helpers.js'

const pool = supervisorPool('exec-spawner')
function supervisor(spawnerIdleMs?: number): Supervisor {
  return pool.make({ graceMs: 300, cgroupRoot: null, spawnerIdleMs })
}

/** The parent of the process a job ran: the job prints its $PPID. */
async function parentOfAJob(sup: Supervisor): Promise<number> {
  const s = spec(['sh', '-c', 'echo $PPID'])
  expect(await launch(sup, s).exit).toMatchObject({ reason: 'exited', exitCode: 0 })
  return Number((await output(sup, s.allocationId)).trim())
}

/** Starts the spawner (with a first job, forked here while it boots) and waits until it is ready. */
async function readySpawner(sup: Supervisor): Promise<number> {
  expect(await launch(sup, spec(['true'])).exit).toMatchObject({ reason: 'exited', exitCode: 0 })
  await waitFor(() => sup.spawnerPid() !== undefined, 'the spawner to be ready')
  return sup.spawnerPid() as number
}

/** Spawner processes that are children of this one (the spawner is forked with argv 'murmur-spawner'). */
function ourSpawners(): number[] {
  const kids = readdirSync(`/proc/${process.pid}/task`).flatMap((t) => {
    try {
      return readFileSync(`/proc/${process.pid}/task/${t}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number)
    } catch {
      return []
    }
  })
  return kids.filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('murmur-spawner')
    } catch {
      return false
    }
  })
}

describe('the spawner process', () => {
  it('is forked after the first job: that job does not wait for the fork', async () => {
    const before = new Set(ourSpawners())
    // The real direct launcher, watched: which spawners exist when it forks the job.
    const real = new DirectLauncher(writePidFile)
    let atJobFork: number[] | undefined
    const direct: Launcher = {
      launch: (...a) => { atJobFork = ourSpawners().filter((p) => !before.has(p)); real.launch(...a) },
      close: () => real.close(),
      spawnerPid: () => real.spawnerPid(),
    }
    const launcher = new SpawnerLauncher('test-boot', () => {}, direct)
    try {
      const s = spec(['true'])
      const exited = new Promise<number | null>((resolve, reject) => {
        const events: LaunchEvents = { spawned: () => {}, failed: reject, exited: (code) => resolve(code), lost: () => reject(new Error('lost')) }
        launcher.launch(s.allocationId, { argv: s.command, cwd: allocationDir(pool.dir, s.allocationId), env: { PATH: process.env.PATH ?? '' }, gated: false, stdoutPath: join(pool.dir, `${s.allocationId}.out`), stderrPath: join(pool.dir, `${s.allocationId}.err`) }, events)
      })
      expect(atJobFork).toEqual([])
      expect(await exited).toBe(0)
      await waitFor(() => launcher.spawnerPid() !== undefined, 'the spawner to be ready')
      expect(ourSpawners()).toContain(launcher.spawnerPid())
    } finally {
      launcher.close()
    }
  })

  it('is the parent of the jobs once ready; until then this process forks them, and the first job starts the spawner', async () => {
    const sup = supervisor()
    expect(sup.spawnerPid()).toBeUndefined()
    // The first job does not wait for the spawner's boot.
    expect(await parentOfAJob(sup)).toBe(process.pid)
    await waitFor(() => sup.spawnerPid() !== undefined, 'the spawner to be ready')
    const spawnerPid = sup.spawnerPid() as number
    expect(spawnerPid).not.toBe(process.pid)
    expect(await parentOfAJob(sup)).toBe(spawnerPid)
  })

  it('exits once nothing has run through it for its idle time, and the next start forks a new one', async () => {
    const sup = supervisor(1_000)
    const first = await readySpawner(sup)
    const long = spec(['sleep', '1.5'])
    const run = launch(sup, long)
    // A run in flight longer than the idle time keeps it.
    expect(await run.exit).toMatchObject({ reason: 'exited', exitCode: 0 })
    expect(processGone(first)).toBe(false)
    expect(sup.spawnerPid()).toBe(first)
    await waitFor(() => processGone(first), 'the idle spawner to exit')
    expect(sup.spawnerPid()).toBeUndefined()
    const second = await readySpawner(sup)
    expect(second).not.toBe(first)
    expect(await parentOfAJob(sup)).toBe(second)
  })

  it('killed while a job runs: that run still ends once (exit status unknown), and the next job gets a new spawner', async () => {
    const sup = supervisor()
    const first = await readySpawner(sup)
    const s = spec(['sh', '-c', 'echo ready; sleep 0.5'])
    const run = launch(sup, s)
    await waitForOutput(sup, s.allocationId, 'ready')
    // Whether or not the spawner's word of the pid arrived first, the run is found: by its pid
    // file, or by its environment if the spawner was killed before it wrote that file.
    process.kill(first, 'SIGKILL')
    const info = await run.exit
    expect(info).toMatchObject({ reason: 'exited', exitCode: null, signal: null })
    expect(info.message).toMatch(/spawner process went away/)
    // It ended by itself, after its sleep: the lost spawner did not take it down.
    expect(info.finishedAt - info.startedAt).toBeGreaterThanOrEqual(450)
    expect(sup.running()).toEqual([])
    expect(await readySpawner(sup)).not.toBe(first)
  })

  it('killed while a job runs: stop() still ends that job', async () => {
    const sup = supervisor()
    await readySpawner(sup)
    const s = spec(['sh', '-c', 'echo ready; sleep 60'])
    const run = launch(sup, s)
    await waitForOutput(sup, s.allocationId, 'ready')
    // The job runs as far as the supervisor knows: its pid came back. (A spawner killed before
    // it said the pid is the test above; execution.test.ts covers one killed before its pid file.)
    await run.pid
    process.kill(sup.spawnerPid() as number, 'SIGKILL')
    await waitFor(() => sup.spawnerPid() === undefined, 'the supervisor to notice')
    await sup.stop(s.allocationId, 'killed')
    expect(await run.exit).toMatchObject({ reason: 'killed' })
    expect(processGone((await run.pid) ?? -1)).toBe(true)
  })

  it('exits when its agent is SIGKILLed, leaving the job running for the next agent to reap', async () => {
    const s = spec(['sleep', '60'], { allocationId: nextId('crash') })
    // An agent stand-in: a process that owns a Supervisor, starts one job and says so.
    const script = `
      import { Supervisor } from ${JSON.stringify(new URL('../../src/execution/index.ts', import.meta.url).href)}
      const sup = new Supervisor({ allocationsDir: ${JSON.stringify(pool.dir)}, cgroupRoot: null })
      // A first job starts the spawner, which forks the jobs once it is ready.
      await new Promise((resolve) => sup.start(${JSON.stringify(spec(['true'], { allocationId: nextId('warm') }))}, resolve))
      for (let i = 0; i < 250 && sup.spawnerPid() === undefined; i++) await new Promise((r) => setTimeout(r, 20))
      const pid = await sup.start(${JSON.stringify(s)}, () => {}).pid
      console.log(JSON.stringify({ pid, spawner: sup.spawnerPid() }))
      setInterval(() => {}, 1000)
    `
    const agent = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
    const exited = new Promise((r) => agent.once('exit', r))
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = ''
        agent.stdout.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('\n')) resolve(out) })
        agent.once('exit', (code) => reject(new Error(`the agent stand-in exited (${code}) early`)))
      })
      const { pid, spawner } = JSON.parse(line) as { pid: number; spawner: number }
      expect(existsSync(join(allocationDir(pool.dir, s.allocationId), 'murmur.pid'))).toBe(true)
      expect(JSON.parse(readFileSync(join(allocationDir(pool.dir, s.allocationId), 'murmur.pid'), 'utf8'))).toMatchObject({ pid })
      agent.kill('SIGKILL')
      await exited
      await waitFor(() => processGone(spawner), 'the spawner to exit')
      expect(processGone(pid)).toBe(false)
      const next = supervisor()
      expect(await next.reapOrphans()).toEqual([s.allocationId])
      expect(processGone(pid)).toBe(true)
    } finally {
      agent.kill('SIGKILL')
      await exited
    }
  }, 20_000)
})
