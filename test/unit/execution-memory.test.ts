// Memory limits against real processes: the RSS poller (forced, so it is tested everywhere) and
// the kernel's cgroup v2 limit (only where this machine lets us make cgroups).
import { describe, expect, it } from 'vitest'
import type { Supervisor } from '../../src/execution/index.js'
import { launch, processGone, spec, supervisorPool } from '../fixtures/execution/helpers.js'

/** Grows by 8 MiB of touched memory every 10 ms, in a child too, and prints its progress. */
const HOG = `
const { spawn } = require('node:child_process')
if (!process.env.HOG_CHILD) spawn(process.execPath, ['-e', process.argv[1]], { stdio: 'inherit', env: { ...process.env, HOG_CHILD: '1' } })
const held = []
setInterval(() => { held.push(Buffer.alloc(8 * 1024 * 1024, 1)); if (held.length % 4 === 0) console.log(held.length * 8) }, 10)
`
/** Well above two idle node processes (~45 MB each here), well below what the machine has. */
const LIMIT_MB = 160
/** Stays far below the limit, then exits 0. */
const MODEST = `const b = Buffer.alloc(16 * 1024 * 1024, 1); setTimeout(() => process.exit(b[0] === 1 ? 0 : 1), 300)`

const pool = supervisorPool('exec-mem')
function supervisor(cgroupRoot: string | null | undefined): Supervisor {
  return pool.make({ graceMs: 300, rssPollMs: 50, ...(cgroupRoot === undefined ? {} : { cgroupRoot }) })
}

describe('memory limit, rss-poll mode (forced)', () => {
  const sup = supervisor(null)

  it('is the mode when cgroups are turned off', () => {
    expect(sup.memoryEnforcement).toBe('rss-poll')
  })

  it('kills a process group that grows past memoryMb, with reason oom', async () => {
    const s = spec([process.execPath, '-e', HOG], { memoryMb: LIMIT_MB })
    const run = launch(sup, s)
    const info = await run.exit
    expect(info).toMatchObject({ reason: 'oom', signal: 'SIGKILL', exitCode: null })
    expect(info.message).toMatch(/RSS .* over the 160\.0 MB limit/)
    expect(processGone((await run.pid) ?? -1)).toBe(true)
  })

  it('leaves a process under its limit alone', async () => {
    const info = await launch(sup, spec([process.execPath, '-e', MODEST], { memoryMb: LIMIT_MB })).exit
    expect(info).toMatchObject({ reason: 'exited', exitCode: 0 })
  })
})

const native = supervisor(undefined)

// Runs only where the kernel offers a writable cgroup v2 memory controller. This machine (and CI
// here) has a v1/hybrid layout, so the RSS-polling tests above are the ones that run; the cgroup
// plumbing is still tested against a fake cgroup tree in execution-cgroup.test.ts.
describe.skipIf(native.memoryEnforcement !== 'cgroup')('memory limit, cgroup mode (this machine)', () => {
  it('the kernel OOM-kills the group at memory.max, reported as oom', async () => {
    const info = await launch(native, spec([process.execPath, '-e', HOG], { memoryMb: LIMIT_MB })).exit
    expect(info.reason).toBe('oom')
    expect(info.message).toMatch(/memory\.max/)
  })

  it('leaves a process under its limit alone', async () => {
    const info = await launch(native, spec([process.execPath, '-e', MODEST], { memoryMb: LIMIT_MB })).exit
    expect(info).toMatchObject({ reason: 'exited', exitCode: 0 })
  })
})
