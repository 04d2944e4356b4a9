// A host on a 1 Mbit/s link (a token bucket both ways, set before its agent starts): it must still
// join by mDNS, be placed work and run it, and never be declared dead while it works.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { detectionBoundMs } from '../../scripts/lab/bounds.js'
import type { Lab } from '../../scripts/lab/lab.js'
import { localHealth } from '../../scripts/lab/metrics.js'
import { waitAllAlive, waitUntil, watchFor } from '../../scripts/lab/observe.js'
import { ONE_MBIT } from '../../scripts/lab/netns.js'
import { parseAllocId } from '../../scripts/lab/runs.js'
import { closeLab, describeLab, labService, newLab } from '../support/lab.js'

const HOSTS = ['h1', 'h2', 'h3']
const SLOW = 'h3'

describeLab('a host on a slow link', () => {
  let lab: Lab | undefined

  beforeAll(async () => {
    lab = await newLab()
    await lab.addHosts(2)
    await lab.addHost({ slow: ONE_MBIT })
  })
  afterAll(() => closeLab(lab))

  it('joins, is placed work, and is not declared dead', async () => {
    const l = lab as Lab
    // The link is really slow: 200 kB take over a second and a half each way.
    const up = await l.throughputKbit(SLOW, 'h1', 200_000)
    const down = await l.throughputKbit('h1', SLOW, 200_000)
    const fast = await l.throughputKbit('h1', 'h2', 200_000)
    console.log(`rates: ${SLOW} -> h1 ${up.toFixed(0)} kbit/s, h1 -> ${SLOW} ${down.toFixed(0)} kbit/s, h1 -> h2 ${fast.toFixed(0)} kbit/s`)
    for (const rate of [up, down]) expect(rate).toBeLessThan(1.5 * ONE_MBIT.rateKbit)
    expect(fast).toBeGreaterThan(10 * ONE_MBIT.rateKbit)

    const agents = await l.startAll(HOSTS)
    const lastReady = Math.max(...agents.map((a) => a.readyAt))
    const joined = await waitAllAlive(l, HOSTS, 15_000)
    console.log(`with ${SLOW} on ${ONE_MBIT.rateKbit} kbit/s: all see 3 alive ${joined - lastReady} ms after the last was ready`)

    // Work placed on it: a service pinned to it by label, running there (its process is in h3's namespace).
    const id = await l.submit('h1', labService('on-slow', 1, 0.5, { constraints: [{ label: 'lab.host', op: '=', value: SLOW }] }))
    await waitUntil(`${id} running on ${SLOW}`, async () => {
      const onSlow = [...l.liveAllocs().get(SLOW) ?? []].some((a) => parseAllocId(a)?.jobId === id)
      const j = await l.job('h1', id)
      return onSlow && j?.allocations.some((a) => a.state === 'running' && a.nodeName === SLOW) ? true : undefined
    }, 20_000, 100)
    // And work spread over every host includes it.
    const spread = await l.submit('h2', labService('spread', 3, 0.5))
    await waitUntil(`${spread} running once on every host`, async () => {
      const running = (await l.job('h2', spread))?.allocations.filter((a) => a.state === 'running') ?? []
      return new Set(running.map((a) => a.nodeName)).size === 3 ? true : undefined
    }, 20_000, 100)

    // Never suspected into death while it works: watched for twice the time a real cut takes.
    const window = Math.min(25_000, 2 * detectionBoundMs('lan', HOSTS.length, await localHealth(l, HOSTS)))
    const watched = await watchFor(l, HOSTS, ['dead'], window)
    expect(watched.unanswered).toBe(0)
    expect(watched.seen).toEqual([])
  })
})
