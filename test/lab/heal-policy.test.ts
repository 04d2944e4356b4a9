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
// SKIPPED until the core implements the policy. Today each side's arbiter marks the other side's
// runs `lost`, `lost` outranks `running` in the job merge, and the newest attempt fences older
// ones: at the heal every original run is stopped, uncontested ones included, and an arbiter may
// place again while it still holds the other side dead (docs/lab.md has the sequence). Unskip
// with the core change.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { analyzeHeal, healChecks } from '../../scripts/lab/heal.js'
import type { Lab } from '../../scripts/lab/lab.js'
import { duplicatesStopped } from '../../scripts/lab/metrics.js'
import { timeStates, waitAllAlive, waitUntil } from '../../scripts/lab/observe.js'
import { parseAllocId } from '../../scripts/lab/runs.js'
import { waitSettled } from '../../scripts/lab/settle.js'
import { closeLab, describeLab, labService, newLab } from '../support/lab.js'

const HOSTS = ['h1', 'h2', 'h3']
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

  it.skip('a heal after a one-host cut: views agree, one run per instance, stopped = duplicates, nothing uncontested touched', async () => {
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
    console.log(`heal: views agree after ${agreeAt - healAt} ms, settled after ${settledAt - healAt} ms\n${JSON.stringify(heal, null, 1)}`)
    expect(heal.contested.length).toBe(2)
    expect(heal.uncontested).toHaveLength(1)
    expect(healChecks(heal).filter((c) => !c.ok)).toEqual([])
    expect(heal.stoppedAtHeal).toHaveLength(2)
    expect(heal.highestAttempt).toBe(2)
  })
})
