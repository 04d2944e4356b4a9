// The cgroup v2 plumbing, against a fake cgroupfs in a temp dir (plain files, so the kernel
// enforces nothing here: execution-memory.test.ts covers real enforcement where the machine
// allows it). What this checks with real processes: the probe's verdicts, the limits written,
// the gate (the job runs only once its pid is in cgroup.procs, with its argv untouched), and
// OOM detection from memory.events.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { Supervisor } from '../../src/execution/index.js'
import { launch, output, spec, supervisorPool, waitFor, waitForOutput } from '../fixtures/execution/helpers.js'

const pool = supervisorPool('exec-cg')

let roots = 0
/** A directory that looks like a cgroup v2 root offering these controllers. */
function fakeRoot(controllers: string | null): string {
  roots += 1
  const root = join(pool.dir, `cgroup-${roots}`)
  mkdirSync(root, { recursive: true })
  if (controllers !== null) writeFileSync(join(root, 'cgroup.controllers'), controllers)
  return root
}

function supervisor(root: string): Supervisor {
  return pool.make({ allocationsDir: join(pool.dir, 'allocs'), graceMs: 300, cgroupRoot: root, cgroupParent: '/' })
}

describe('cgroup probe', () => {
  it('falls back to rss-poll without cgroup v2', () => {
    const sup = supervisor(fakeRoot(null))
    expect(sup.memoryEnforcement).toBe('rss-poll')
    expect(sup.memoryEnforcementReason).toMatch(/no cgroup v2/)
  })

  it('falls back to rss-poll without the memory controller', () => {
    const sup = supervisor(fakeRoot('cpu io pids'))
    expect(sup.memoryEnforcement).toBe('rss-poll')
    expect(sup.memoryEnforcementReason).toMatch(/memory controller/)
  })

  it('uses cgroups when it can delegate memory and write memory.max', () => {
    const root = fakeRoot('cpuset cpu io memory pids')
    const sup = supervisor(root)
    expect(sup.memoryEnforcement).toBe('cgroup')
    expect(readFileSync(join(root, `murmur-${process.pid}`, 'cgroup.subtree_control'), 'utf8')).toMatch(/cpu/)
  })
})

describe('cgroup mode with a fake cgroupfs', () => {
  const root = fakeRoot('cpu memory')
  const tree = join(root, `murmur-${process.pid}`)
  const sup = supervisor(root)

  it('writes the limits and the pid, then runs the argv verbatim behind the gate', async () => {
    const s = spec(['echo', '$HOME', '"quoted"', 'a b'], { memoryMb: 96, cpu: 0.25 })
    const run = launch(sup, s)
    expect(await run.exit).toMatchObject({ reason: 'exited', exitCode: 0 })
    const group = join(tree, s.allocationId)
    expect(readFileSync(join(group, 'memory.max'), 'utf8')).toBe(String(96 * 1024 * 1024))
    expect(readFileSync(join(group, 'cpu.max'), 'utf8')).toBe('25000 100000')
    expect(readFileSync(join(group, 'cgroup.procs'), 'utf8')).toBe(String(await run.pid))
    expect(await output(sup, s.allocationId)).toBe('$HOME "quoted" a b\n')
  })

  it('reports a missing binary as spawn-failed, not as the gate exiting 127', async () => {
    const info = await launch(sup, spec(['murmur-no-such-binary'])).exit
    expect(info).toMatchObject({ reason: 'spawn-failed' })
    expect(info.message).toMatch(/ENOENT/)
  })

  it('reads an OOM kill from memory.events', async () => {
    const s = spec(['sh', '-c', 'echo ready; sleep 60'])
    const run = launch(sup, s)
    await waitForOutput(sup, s.allocationId, 'ready')
    // What the kernel does at memory.max: count the kill, SIGKILL the process.
    writeFileSync(join(tree, s.allocationId, 'memory.events'), 'low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n')
    process.kill(-((await run.pid) ?? 0), 'SIGKILL')
    const info = await run.exit
    expect(info).toMatchObject({ reason: 'oom', signal: 'SIGKILL' })
    expect(info.message).toMatch(/OOM-killed 1 process.*memory\.max \(256 MB\)/)
  })

  it('timeout and stop work through the gate too', async () => {
    const s = spec(['sh', '-c', 'trap "" TERM; echo ready; sleep 60'], { timeoutMs: 200 })
    const info = await launch(sup, s).exit
    expect(info).toMatchObject({ reason: 'timeout', signal: 'SIGKILL' })
  })

  it('falls back to rss polling for an allocation whose cgroup cannot be joined', async () => {
    const s = spec(['sh', '-c', 'echo ran'])
    // A directory where cgroup.procs should be: writing the pid fails, as EBUSY/EPERM would.
    mkdirSync(join(tree, s.allocationId, 'cgroup.procs'), { recursive: true })
    const info = await launch(sup, s).exit
    expect(info).toMatchObject({ reason: 'exited', exitCode: 0 })
    await waitFor(async () => (await output(sup, s.allocationId)) === 'ran\n', 'output')
  })
})
