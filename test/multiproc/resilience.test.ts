// Issue 4 on real agents in separate processes, through the contract's CLI and HTTP API only:
// SIGKILL and restart from the data dir, SIGSTOP/SIGCONT and the duplicate it leaves, drain (CLI),
// SIGTERM draining before it leaves, and replica repair proven by a newcomer's disk.
import { execFile } from 'node:child_process'
import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AgentFleet, BIN, nodesSeenBy, stateSeenBy, waitFor, type AgentProc } from '../support/agents.js'
import { jobOn, running, submit, waitJob, type Job } from '../support/jobs.js'

const run = promisify(execFile)
const fleet = new AgentFleet()
const hist = join(fleet.root, 'hist')
const NAMES = ['r1', 'r2', 'r3', 'r4', 'r5']
const AGENT_ARGS = ['--cpu', '2', '--mem', '1024']

/** A service that writes its pid where the test can see it, then sleeps (exec: same pid). */
const service = (name: string) => ({
  name, type: 'service', resources: { cpu: 0.1, memoryMb: 32 }, env: { H: hist },
  command: ['sh', '-c', 'echo $$ > "$H/$MURMUR_ALLOC_ID.pid"; exec sleep 3600'],
})

const live = (): AgentProc[] => [...fleet.agents.values()].filter((a) => a.child.exitCode === null && a.child.signalCode === null)
const byName = (name: string): AgentProc => fleet.get(name)
/** The pid a service wrote: "running" is recorded as the process is started, so its shell may not have written it yet. */
const pidOf = (jobId: string, a: { index: number; attempt: number }): Promise<number> =>
  waitFor(`${jobId}.${a.index}.${a.attempt} to write its pid`, async () => {
    const text = readFileSync(join(hist, `${jobId}.${a.index}.${a.attempt}.pid`), 'utf8').trim()
    return /^\d+$/.test(text) ? Number(text) : undefined
  }, 10_000)
const gone = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    // A zombie (exited, not yet reaped) counts as gone: it runs nothing.
    return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return true
  }
}

async function allSee(n: number, state = 'alive'): Promise<void> {
  await waitFor(`every live agent to see ${n} ${state}`, async () => {
    const views = await Promise.all(live().map(nodesSeenBy))
    return views.every((v) => v.filter((x) => x.state === state).length === n) ? true : undefined
  }, 30_000)
}

/** Services placed and running; returns their jobs as `via` sees them. */
async function services(via: AgentProc, n: number, prefix: string): Promise<Job[]> {
  const ids = await Promise.all(Array.from({ length: n }, (_, i) => submit(via, service(`${prefix}-${i}`))))
  return Promise.all(ids.map((id) => waitJob(fleet, via, id, 'running', (j) => running(j).length === 1)))
}

beforeAll(async () => {
  mkdirSync(hist, { recursive: true })
  const first = await fleet.start('r1', AGENT_ARGS)
  await Promise.all(NAMES.slice(1).map((n) => fleet.start(n, ['--join', first.p2p, ...AGENT_ARGS])))
  await allSee(5)
}, 60_000)
afterAll(() => fleet.cleanup())

describe('resilience on real agents', () => {
  it('SIGKILL: its runs are lost and placed again elsewhere; restarted, it keeps its id and jobs and reaps its orphans', async () => {
    const jobs = await services(byName('r1'), 6, 'k')
    const victim = running(jobs[0] as Job)[0]?.nodeName as string
    const affected = jobs.filter((j) => running(j)[0]?.nodeName === victim)
    const oldPids = await Promise.all(affected.map((j) => pidOf(j.id, running(j)[0] as { index: number; attempt: number })))
    const observer = live().find((a) => a.name !== victim) as AgentProc
    const old = byName(victim)
    const t0 = Date.now()
    fleet.signal(victim, 'SIGKILL')
    await old.exited
    for (const j of affected) {
      const moved = await waitJob(fleet, observer, j.id, 'running elsewhere', (x) => running(x).some((a) => a.nodeName !== victim))
      expect(moved.allocations.find((a) => a.attempt === 1)?.state).toBe('lost')
    }
    console.log(`SIGKILL ${victim}: ${affected.length} run(s) running elsewhere after ${Date.now() - t0} ms`)

    const back = await fleet.start(victim, ['--join', observer.p2p, ...AGENT_ARGS], { dataDir: old.dataDir })
    expect(back.peer).toBe(old.peer)
    await allSee(5)
    // Processes that outlived the crash are killed by the restarted agent, not left running twice.
    await waitFor('orphans of the killed agent to be gone', async () => oldPids.every(gone) ? true : undefined, 10_000)
    const seen = await jobOn(back, affected[0]?.id as string)
    expect(seen?.state).toBe('running')
  }, 90_000)

  it('SIGSTOP: runs move within seconds; after SIGCONT the original, which ran longest, stays and the replacement is stopped and recorded', async () => {
    const jobs = await services(byName('r2'), 4, 's')
    const frozen = running(jobs[0] as Job)[0]?.nodeName as string
    const job = jobs[0] as Job
    const originalPid = await pidOf(job.id, running(job)[0] as { index: number; attempt: number })
    const observer = live().find((a) => a.name !== frozen) as AgentProc
    const t0 = Date.now()
    fleet.signal(frozen, 'SIGSTOP')
    const moved = await waitJob(fleet, observer, job.id, 'running elsewhere', (x) => running(x).some((a) => a.nodeName !== frozen))
    console.log(`SIGSTOP ${frozen}: running elsewhere after ${Date.now() - t0} ms`)
    expect(moved.allocations.find((a) => a.attempt === 1)?.state).toBe('lost')
    expect(gone(originalPid)).toBe(false)
    const replacement = running(moved).find((a) => a.nodeName !== frozen) as { index: number; attempt: number; nodeName: string }
    const replacementPid = await pidOf(job.id, replacement)

    // The default policy (disconnect.reconcile longest_running): the thawed run re-asserts itself
    // over the lost verdict, and the replacement's node stops its copy.
    fleet.signal(frozen, 'SIGCONT')
    const settled = await waitJob(fleet, observer, job.id, 'duplicate recorded', (x) => (x.duplicates ?? []).length > 0 && running(x).length === 1)
    expect(settled.duplicates?.[0]).toMatchObject({ index: 0, attempt: replacement.attempt, nodeName: replacement.nodeName })
    expect(running(settled)[0]).toMatchObject({ index: 0, attempt: 1, nodeName: frozen })
    await waitFor('the replacement process to be gone', async () => gone(replacementPid) ? true : undefined, 10_000)
    expect(gone(originalPid)).toBe(false)
    const metrics = await (await fetch(`${byName(replacement.nodeName).api}/metrics`)).text()
    expect(Number(/^murmur_duplicates_stopped_total (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1)
    await allSee(5)
  }, 90_000)

  it('murmur drain NODE: a service starts elsewhere before its old copy stops; --disable takes it back', async () => {
    const [job] = await services(byName('r3'), 1, 'd') as [Job]
    const from = running(job)[0]?.nodeName as string
    const via = live().find((a) => a.name !== from) as AgentProc
    const oldPid = await pidOf(job.id, running(job)[0] as { index: number; attempt: number })
    const { stdout } = await run(process.execPath, [BIN, 'drain', from, '--api', via.api])
    expect(stdout).toMatch(new RegExp(`node ${from} is draining`))
    const moved = await waitJob(fleet, via, job.id, 'moved', (x) => running(x).length === 1 && running(x)[0]?.nodeName !== from &&
      x.allocations.find((a) => a.attempt === 1)?.state === 'cancelled')
    const [old, repl] = [moved.allocations.find((a) => a.attempt === 1), running(moved)[0]]
    expect(repl?.replaces).toBe(1)
    expect(Date.parse(repl?.startedAt as string)).toBeLessThanOrEqual(Date.parse(old?.finishedAt as string))
    expect(old?.reason).toMatch(/draining/)
    await waitFor('the old copy to stop', async () => gone(oldPid) ? true : undefined, 10_000)
    expect(await stateSeenBy(via, from)).toBe('draining')

    await run(process.execPath, [BIN, 'drain', from, '--disable', '--api', via.api])
    await waitFor(`${from} alive again`, async () => (await stateSeenBy(via, from)) === 'alive' ? true : undefined, 10_000)
    // A drain of a name nobody knows is a clear error.
    await expect(run(process.execPath, [BIN, 'drain', 'nope', '--api', via.api])).rejects.toMatchObject({ stderr: expect.stringMatching(/no node with id or name 'nope'/) })
  }, 60_000)

  it('SIGTERM drains first: the service moves (not lost), then the agent leaves and exits 0', async () => {
    const [job] = await services(byName('r4'), 1, 't') as [Job]
    const leaving = running(job)[0]?.nodeName as string
    const agent = byName(leaving)
    const observer = live().find((a) => a.name !== leaving) as AgentProc
    const t0 = Date.now()
    fleet.signal(leaving, 'SIGTERM')
    expect(await agent.exited).toEqual({ code: 0, signal: null })
    console.log(`SIGTERM ${leaving}: drained and exited in ${Date.now() - t0} ms`)
    const moved = await waitJob(fleet, observer, job.id, 'moved', (x) => running(x).some((a) => a.nodeName !== leaving))
    expect(moved.allocations.find((a) => a.attempt === 1)?.state).toBe('cancelled')
    expect(await stateSeenBy(observer, leaving)).toBe('left')
    await fleet.start(leaving, ['--join', observer.p2p, ...AGENT_ARGS], { dataDir: agent.dataDir })
    await allSee(5)
  }, 60_000)

  it('replica repair: when a storing node dies, a newcomer gets the job on its own disk', async () => {
    const via = byName('r1')
    const id = await submit(via, { name: 'kept', command: ['true'] })
    const first = (await jobOn(via, id))?.storedOn as string[]
    expect(first).toHaveLength(3)
    const victim = first.find((n) => n !== via.name) as string
    fleet.signal(victim, 'SIGKILL')
    await byName(victim).exited
    const observer = live().find((a) => !first.includes(a.name)) ?? via
    const repaired = await waitJob(fleet, observer, id, 'stored on 3 live nodes', (j) => j.storedOn?.length === 3 && !j.storedOn.includes(victim))
    const newcomer = repaired.storedOn?.find((n) => !first.includes(n)) as string
    expect(newcomer).toBeDefined()
    // Proof it is on the newcomer's disk: once it counts itself a storing node, stop it (a graceful
    // stop finishes its writes; it does not add any) and bring it back alone (no --join, no mDNS):
    // whatever it knows right after its restart, it read from its data dir.
    const n = byName(newcomer)
    await waitJob(fleet, n, id, `stored on ${newcomer} by its own view`, (j) => j.storedOn?.includes(newcomer) === true)
    fleet.signal(newcomer, 'SIGTERM')
    expect((await n.exited).code).toBe(0)
    const alone = await fleet.start(newcomer, AGENT_ARGS, { dataDir: n.dataDir })
    const loaded = await jobOn(alone, id)
    expect(loaded?.id).toBe(id)
  }, 60_000)
})
