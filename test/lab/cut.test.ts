// A real partition: one host's link goes down (packets time out, nothing is refused) while a
// service runs one instance per host. The others must declare it dead within the failure
// detector's bound and place its instance again on their side; the cut host must see them gone;
// both sides keep accepting work. After the link comes back, views must agree, each instance run
// once, and every run stopped by the heal be a duplicate recorded on the job and counted in
// /metrics. (Which run a heal keeps is the partition policy's: heal-policy.test.ts.)
import { afterAll, beforeAll, expect, it } from 'vitest'
import { detectionBoundMs, isolatedBoundMs } from '../../scripts/lab/bounds.js'
import { analyzeHeal } from '../../scripts/lab/heal.js'
import type { Lab } from '../../scripts/lab/lab.js'
import { timeStates, waitAllAlive, waitUntil } from '../../scripts/lab/observe.js'
import { parseAllocId } from '../../scripts/lab/runs.js'
import { duplicatesStopped, localHealth } from '../../scripts/lab/metrics.js'
import { waitSettled } from '../../scripts/lab/settle.js'
import { closeLab, describeLab, labService, newLab } from '../support/lab.js'

const HOSTS = ['h1', 'h2', 'h3']
const VICTIM = 'h3'
const MAJORITY = ['h1', 'h2']

describeLab('a host cut off, and the heal', () => {
  let lab: Lab | undefined
  let jobId = ''
  let dupsBefore = 0

  beforeAll(async () => {
    lab = await newLab()
    await lab.addHosts(3)
    await lab.startAll(HOSTS)
    await waitAllAlive(lab, HOSTS, 15_000)
    const l = lab
    jobId = await l.submit('h1', labService('svc', 3))
    await waitUntil('one running instance per host', async () => {
      const j = await l.job('h1', jobId)
      const running = j?.allocations.filter((a) => a.state === 'running') ?? []
      return new Set(running.map((a) => a.nodeName)).size === 3 ? true : undefined
    }, 20_000, 100)
    dupsBefore = await duplicatesStopped(l, HOSTS)
  })
  afterAll(() => closeLab(lab))

  it('is declared dead within the bound, its run placed on the majority side, and it sees the others gone', async () => {
    const l = lab as Lab
    const victimIndex = (await l.job('h1', jobId))?.allocations.find((a) => a.state === 'running' && a.nodeName === VICTIM)?.index as number
    // The detector's bound as each side's Lifeguard local health stands at the cut.
    const bound = detectionBoundMs('lan', HOSTS.length, await localHealth(l, MAJORITY))
    const victimBound = isolatedBoundMs('lan', HOSTS.length, await localHealth(l, [VICTIM]))
    await l.cut(VICTIM)
    const cutAt = Date.now()
    // The fault is on the wire: a new connection to the cut host times out, it is never refused.
    expect(await l.tcpConnect('h1', VICTIM)).toMatch(/^(timeout|error EHOSTUNREACH)$/)

    const [byOthers, victimView] = await Promise.all([
      timeStates(l, MAJORITY, VICTIM, ['dead'], bound + 10_000),
      Promise.all(MAJORITY.map((h) => timeStates(l, [VICTIM], h, ['dead'], victimBound + 10_000))),
    ])
    const detect = MAJORITY.map((h) => (byOthers.get(h) as number) - cutAt)
    const victimSaw = Math.max(...victimView.map((m) => m.get(VICTIM) as number)) - cutAt
    console.log(`cut ${VICTIM}: seen dead by ${MAJORITY.map((h, i) => `${h} after ${detect[i]} ms`).join(', ')}; it saw both dead after ${victimSaw} ms (bounds ${bound} / ${victimBound} ms)`)
    for (const ms of detect) expect(ms).toBeLessThanOrEqual(bound)
    expect(victimSaw).toBeLessThanOrEqual(victimBound)

    // Its instance runs again on the majority side: a process there, and the majority's record says so.
    await waitUntil(`instance ${victimIndex} running on ${MAJORITY.join(' or ')}`, async () => {
      const live = l.liveAllocs()
      const onMajority = MAJORITY.some((h) => [...live.get(h) ?? []].some((id) => { const p = parseAllocId(id); return p?.jobId === jobId && p.index === victimIndex }))
      const j = await l.job('h1', jobId)
      return onMajority && j?.allocations.some((a) => a.index === victimIndex && a.state === 'running' && MAJORITY.includes(a.nodeName)) ? true : undefined
    }, 10_000, 100)

    // No quorum to lose: each side still stores and runs new work.
    for (const side of ['h1', VICTIM]) {
      const id = await l.submit(side, { name: `during-cut-${side}`, command: ['true'] })
      await waitUntil(`${id} to succeed on ${side}'s side`, async () => (await l.job(side, id))?.state === 'succeeded' ? true : undefined, 15_000, 100)
    }
  })

  it('after the heal: views agree, one run per instance, every run it stopped recorded and counted', async () => {
    const l = lab as Lab
    await l.reconnect(VICTIM)
    const healAt = Date.now()
    const agreeAt = await waitAllAlive(l, HOSTS, 30_000)
    const { settledAt, job } = await waitSettled(l, HOSTS, jobId, 3, 60_000)
    const heal = analyzeHeal({
      jobId, count: 3, healAt, settledAt, runs: l.runs(), live: l.liveAllocs(),
      duplicates: job.duplicates ?? [], duplicatesCounted: (await duplicatesStopped(l, HOSTS)) - dupsBefore,
    })
    console.log(`heal: views agree after ${agreeAt - healAt} ms, settled after ${settledAt - healAt} ms; ` +
      `stopped ${heal.stoppedSinceHeal.join(' ')}; started ${heal.startedAfterHeal.join(' ') || 'none'}; duplicates ${heal.duplicatesRecorded.join(' ')}`)
    for (let i = 0; i < 3; i++) expect(heal.livePerInstance[i]).toHaveLength(1)
    // Both sides ran the cut host's instance, so the heal must have stopped at least one copy.
    expect(heal.contested.length).toBeGreaterThanOrEqual(1)
    expect(heal.stoppedSinceHeal.length).toBeGreaterThanOrEqual(1)
    expect([...heal.duplicatesRecorded].sort()).toEqual(expect.arrayContaining(heal.stoppedSinceHeal))
    expect(heal.duplicatesCounted).toBe(heal.duplicatesRecorded.length)
  })
})
