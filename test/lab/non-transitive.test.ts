// A non-transitive partition: h1 and h2 cannot reach each other (a blackhole route in each), while
// both still reach h3. SWIM's indirect probes go through h3, so nobody may be declared dead.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { detectionBoundMs } from '../../scripts/lab/bounds.js'
import type { Lab } from '../../scripts/lab/lab.js'
import { localHealth, readMetricEach } from '../../scripts/lab/metrics.js'
import { waitAllAlive, watchFor } from '../../scripts/lab/observe.js'
import { closeLab, describeLab, newLab } from '../support/lab.js'

const HOSTS = ['h1', 'h2', 'h3']

describeLab('a non-transitive cut', () => {
  let lab: Lab | undefined

  beforeAll(async () => {
    lab = await newLab()
    await lab.addHosts(3)
    await lab.startAll(HOSTS)
    await waitAllAlive(lab, HOSTS, 15_000)
  })
  afterAll(() => closeLab(lab))

  it('A cannot reach B, both reach C: nobody is declared dead', async () => {
    const l = lab as Lab
    await l.block('h1', 'h2')
    await l.block('h2', 'h1')
    // The cut is on the wire, and only between h1 and h2.
    expect(await l.tcpConnect('h1', 'h2')).toBe('error EINVAL')
    expect(await l.tcpConnect('h2', 'h1')).toBe('error EINVAL')
    expect(await l.tcpConnect('h1', 'h3')).toBe('connected')
    expect(await l.tcpConnect('h2', 'h3')).toBe('connected')

    const indirectBefore = await readMetricEach(l, ['h1', 'h2'], 'murmur_indirect_probes_total')
    const deathsBefore = await readMetricEach(l, HOSTS, 'murmur_deaths_declared_total')
    // Twice the time in which a real cut is declared dead (h1 and h2 probe each other several
    // times), at most 25 s (a long window on a machine so loaded that probes stretch).
    const window = Math.min(25_000, 2 * detectionBoundMs('lan', HOSTS.length, await localHealth(l, HOSTS)))
    const watched = await watchFor(l, HOSTS, ['suspect', 'dead'], window)
    const suspects = watched.seen.filter((s) => s.state === 'suspect')
    console.log(`non-transitive cut, ${window} ms, ${watched.polls} polls: ${suspects.length} suspect sighting(s) ` +
      `(${[...new Set(suspects.map((s) => `${s.observer}->${s.target}`))].join(' ') || 'none'}), dead: ${watched.seen.filter((s) => s.state === 'dead').length}`)
    expect(watched.unanswered).toBe(0)
    expect(watched.polls).toBeGreaterThan(10)
    expect(watched.seen.filter((s) => s.state === 'dead')).toEqual([])
    // The direct path really failed (h1 and h2 each went through h3), and nobody declared a death.
    const indirectAfter = await readMetricEach(l, ['h1', 'h2'], 'murmur_indirect_probes_total')
    indirectAfter.forEach((n, i) => expect(n).toBeGreaterThan(indirectBefore[i] as number))
    expect(await readMetricEach(l, HOSTS, 'murmur_deaths_declared_total')).toEqual(deathsBefore)

    await l.unblock('h1', 'h2')
    await l.unblock('h2', 'h1')
    expect(await l.tcpConnect('h1', 'h2')).toBe('connected')
    await waitAllAlive(l, HOSTS, 10_000)
  })
})
