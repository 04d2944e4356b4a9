// What a heal may stop, by the contract (section 4) and the per-job partition policy (issue 20,
// part 3: JobSpec `disconnect`, default `reconcile: longest_running`): once views agree each
// instance runs exactly once; of two runs of one instance the one running longest stays and the
// other is stopped and recorded under `duplicates` (and counted); a run nobody contested is never
// stopped or restarted; so the runs stopped at the heal are exactly the duplicates, and the heal
// starts nothing.
//
// The cut host declares 1 cpu and each instance needs 0.5: while cut off it keeps its own run and
// can start a replacement for only one of the two others. So the heal meets all three kinds of
// run: one contested by the majority side (the cut host's), one contested by the cut host, and one
// nobody contested.
//
import { afterAll, beforeAll, expect, it } from 'vitest'
import { analyzeHeal, healChecks } from '../../scripts/lab/heal.js'
import type { Lab } from '../../scripts/lab/lab.js'
import { duplicatesStopped } from '../../scripts/lab/metrics.js'
import { timeStates, waitAllAlive, waitUntil } from '../../scripts/lab/observe.js'
import { BEAT_MS, parseAllocId } from '../../scripts/lab/runs.js'
import { waitSettled } from '../../scripts/lab/settle.js'
import { closeLab, describeLab, labService, newLab } from '../support/lab.js'

const HOSTS = ['h1', 'h2', 'h3']

/** The job's runs as the record has them, one per line (what a failure is read from). */
const allocLines = (job: { allocations: Array<{ index: number; attempt: number; nodeName: string; state: string; reason?: string | null }> }): string =>
  job.allocations.map((a) => `  ${a.index}/${a.attempt}@${a.nodeName} ${a.state}${a.reason ? `: ${a.reason}` : ''}`).join('\n')
const VICTIM = 'h3'
const MAJORITY = ['h1', 'h2']

describeLab('the heal keeps what ran and stops only duplicates (default policy)', () => {
  let lab: Lab | undefined

  beforeAll(async () => {
    lab = await newLab()
    await lab.addHosts(2)
    await lab.addHost({ cpu: 1 })
    await lab.startAll(HOSTS)
    await waitAllAlive(lab, HOSTS, 15_000)
  })
  afterAll(() => closeLab(lab))

  it('a heal after a one-host cut: views agree, one run per instance, stopped = duplicates, nothing uncontested touched', async () => {
    const l = lab as Lab
    const jobId = await l.submit('h1', labService('svc', 3, 0.5))
    await waitUntil('one running instance per host', async () => {
      const running = (await l.job('h1', jobId))?.allocations.filter((a) => a.state === 'running') ?? []
      return new Set(running.map((a) => a.nodeName)).size === 3 ? true : undefined
    }, 20_000, 100)
    const dupsBefore = await duplicatesStopped(l, HOSTS)

    await l.cut(VICTIM)
    // Both sides see the other gone, and the cut host's instance runs on the majority side too.
    await timeStates(l, MAJORITY, VICTIM, ['dead'], 15_000)
    await Promise.all(MAJORITY.map((h) => timeStates(l, [VICTIM], h, ['dead'], 15_000)))
    await waitUntil('each side running its replacements', () => {
      const live = l.liveAllocs()
      const onSide = (hosts: string[]): number => hosts.reduce((n, h) => n + [...live.get(h) ?? []].filter((a) => parseAllocId(a)?.jobId === jobId).length, 0)
      return Promise.resolve(onSide(MAJORITY) === 3 && onSide([VICTIM]) === 2 ? true : undefined)
    }, 15_000, 100)

    await l.reconnect(VICTIM)
    const healAt = Date.now()
    const agreeAt = await waitAllAlive(l, HOSTS, 30_000)
    const { settledAt, job } = await waitSettled(l, HOSTS, jobId, 3, 60_000)
    const heal = analyzeHeal({
      jobId, count: 3, healAt, settledAt, runs: l.runs(), live: l.liveAllocs(),
      duplicates: job.duplicates ?? [], duplicatesCounted: (await duplicatesStopped(l, HOSTS)) - dupsBefore,
    })
    console.log(`heal: views agree after ${agreeAt - healAt} ms, settled after ${settledAt - healAt} ms\n${JSON.stringify(heal, null, 1)}\n${allocLines(job)}`)
    expect(heal.contested.length).toBe(2)
    expect(heal.uncontested).toHaveLength(1)
    expect(healChecks(heal).filter((c) => !c.ok)).toEqual([])
    expect(heal.stoppedAtHeal).toHaveLength(2)
    expect(heal.highestAttempt).toBe(2)
  })
})

describeLab('a cut-off host stops its runs after the job\'s stopAfterMs (self-fencing)', () => {
  const STOP_AFTER_MS = 5_000
  let lab: Lab | undefined

  beforeAll(async () => {
    lab = await newLab()
    await lab.addHosts(3)
    await lab.startAll(HOSTS)
    await waitAllAlive(lab, HOSTS, 15_000)
  })
  afterAll(() => closeLab(lab))

  it('duplicates last no longer than the bound, the cut side starts nothing, and the heal stops and starts nothing', async () => {
    const l = lab as Lab
    const jobId = await l.submit('h1', labService('fenced', 3, 0.5, { disconnect: { replace: true, stopAfterMs: STOP_AFTER_MS } }))
    await waitUntil('one running instance per host', async () => {
      const running = (await l.job('h1', jobId))?.allocations.filter((a) => a.state === 'running') ?? []
      return new Set(running.map((a) => a.nodeName)).size === 3 ? true : undefined
    }, 20_000, 100)

    await l.cut(VICTIM)
    // The majority side replaces the cut host's run; the cut host stops its own once the bound passed.
    await waitUntil('the cut host runs nothing of the job, the majority all of it', () => {
      const live = l.liveAllocs()
      const onSide = (hosts: string[]): number => hosts.reduce((n, h) => n + [...live.get(h) ?? []].filter((a) => parseAllocId(a)?.jobId === jobId).length, 0)
      return Promise.resolve(onSide(MAJORITY) === 3 && onSide([VICTIM]) === 0 ? true : undefined)
    }, STOP_AFTER_MS + 10_000, 100)
    const cutRuns = l.runs().filter((r) => r.host === VICTIM && r.jobId === jobId)
    expect(cutRuns).toHaveLength(1)
    // Heal only once its last beat is old enough for the report to see it ended before the heal.
    await waitUntil('the cut host\'s run beat last before the heal window', () => {
      const run = l.runs().find((r) => r.host === VICTIM && r.jobId === jobId)
      return Promise.resolve(run !== undefined && run.lastBeatAt < Date.now() - 3 * BEAT_MS ? true : undefined)
    }, 5_000, 100)

    await l.reconnect(VICTIM)
    const healAt = Date.now()
    await waitAllAlive(l, HOSTS, 30_000)
    const { settledAt, job } = await waitSettled(l, HOSTS, jobId, 3, 60_000)
    const heal = analyzeHeal({
      jobId, count: 3, healAt, settledAt, runs: l.runs(), live: l.liveAllocs(),
      duplicates: job.duplicates ?? [], duplicatesCounted: 0,
    })
    console.log(`stopAfterMs ${STOP_AFTER_MS}: longest duplicate ${heal.longestDuplicateMs} ms\n${JSON.stringify(heal, null, 1)}\n${allocLines(job)}`)
    // The replacement starts once the majority declared the host dead (about 2 s); the original
    // stops STOP_AFTER_MS after the cut host last heard from the others.
    expect(heal.longestDuplicateMs).toBeLessThan(STOP_AFTER_MS)
    expect(heal.stoppedAtHeal).toEqual([])
    expect(heal.startedAfterHeal).toEqual([])
    expect(job.allocations.find((a) => a.nodeName === VICTIM && a.attempt === 1)).toMatchObject({ state: 'lost', reason: expect.stringMatching(/stopAfterMs/) })
  })
})
