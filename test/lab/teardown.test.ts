// A lab leaves nothing behind: a teardown removes every namespace and process of the run, even
// with a frozen agent and running jobs; an owner that exits without a teardown still cleans up
// (exit handler); the leftovers of an owner that was SIGKILLed are swept by the next lab, while
// the lab of an owner that still runs (another engineer's) is left alone.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { expect, it } from 'vitest'
import { waitAllAlive, waitUntil } from '../../scripts/lab/observe.js'
import { cmd, isRunning, listNamespacesSync, pidsIn } from '../../scripts/lab/netns.js'
import { leftoversOf, sweepLeftovers } from '../../scripts/lab/teardown.js'
import { closeLab, describeLab, labService, newLab } from '../support/lab.js'

const OWNER = resolve(import.meta.dirname, '../fixtures/lab/owner.ts')

/** Runs the owner fixture; resolves with its lab's prefix, run dir and process once the lab is up. */
async function owner(mode: 'exit' | 'hang'): Promise<{ prefix: string; runDir: string; child: ReturnType<typeof spawn>; exited: Promise<unknown> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', OWNER, mode], { stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = new Promise((r) => child.once('exit', r))
  const line = await new Promise<string>((res, rej) => {
    createInterface({ input: child.stdout! }).once('line', res)
    void exited.then(() => rej(new Error('the owner fixture exited before its lab was up')))
  })
  const m = /^prefix (\S+) (\S+)$/.exec(line)
  if (m === null) throw new Error(`unexpected owner output: ${line}`)
  return { prefix: m[1] as string, runDir: m[2] as string, child, exited }
}

describeLab('a lab leaves nothing behind', () => {
  it('teardown removes every namespace and process, with a frozen agent and running jobs', async () => {
    const lab = await newLab()
    try {
      await lab.addHosts(2)
      await lab.startAll()
      await waitAllAlive(lab, ['h1', 'h2'], 15_000)
      const id = await lab.submit('h1', labService('svc', 2))
      await waitUntil('both instances running', async () => (lab.runs().filter((r) => r.jobId === id).length === 2 ? true : undefined), 20_000, 100)
      lab.freeze('h2')
      const pids = ['h1', 'h2'].flatMap((h) => pidsIn(lab.hostInfo(h).ns))
      // agent, bridge, and the job's shell and sleep, per host
      expect(pids.length).toBeGreaterThanOrEqual(6)
      await closeLab(lab)
      expect(pids.filter(isRunning)).toEqual([])
      expect(existsSync(lab.runDir)).toBe(false)
    } finally {
      await lab.teardown()
    }
  })

  it('an owner that exits without a teardown still removes its lab', async () => {
    const o = await owner('exit')
    await o.exited
    expect(leftoversOf(o.prefix, o.runDir)).toEqual({ namespaces: [], processes: [] })
  })

  it("a SIGKILLed owner's lab is swept by the next one; a live owner's lab is left alone", async () => {
    const o = await owner('hang')
    expect(listNamespacesSync().filter((n) => n.startsWith(`${o.prefix}-`))).toHaveLength(2)
    o.child.kill('SIGKILL')
    await o.exited
    // Its namespaces and the process in them outlive it.
    const left = leftoversOf(o.prefix, o.runDir)
    expect(left.namespaces).toHaveLength(2)
    const orphans = left.namespaces.flatMap(pidsIn)
    expect(orphans.length).toBeGreaterThanOrEqual(1)

    // A lab whose owner lives (this very process) must survive the sweep.
    const alive = `mlab-${process.pid}-cafe-h1`
    await cmd('ip', ['netns', 'add', alive])
    try {
      const swept = sweepLeftovers(() => undefined)
      expect(swept).toContain(o.prefix)
      expect(leftoversOf(o.prefix, o.runDir)).toEqual({ namespaces: [], processes: [] })
      expect(orphans.filter(isRunning)).toEqual([])
      expect(existsSync(o.runDir)).toBe(false)
      expect(listNamespacesSync()).toContain(alive)
    } finally {
      await cmd('ip', ['netns', 'del', alive])
    }
  })
})
