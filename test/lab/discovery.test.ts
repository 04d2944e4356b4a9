// Hosts started as a user starts them on a LAN: each on its own address, mDNS on (the default),
// no --join. They must find each other by mDNS alone, and a host started later must join the same
// way. The lab has no other way in: no bootstrap address, and nothing outside it can reach it.
import { afterAll, beforeAll, expect, it } from 'vitest'
import type { Lab } from '../../scripts/lab/lab.js'
import { waitAllAlive } from '../../scripts/lab/observe.js'
import { JOIN_GOAL_MS } from '../../scripts/lab/report.js'
import { closeLab, describeLab, newLab } from '../support/lab.js'

describeLab('mDNS discovery between hosts', () => {
  let lab: Lab | undefined
  const first = ['h1', 'h2', 'h3']

  beforeAll(async () => {
    lab = await newLab()
    await lab.addHosts(3)
  })
  afterAll(() => closeLab(lab))

  it('3 hosts started with no --join find each other by mDNS alone', async () => {
    const l = lab as Lab
    for (const h of first) {
      expect(l.agentArgs(h)).not.toContain('--join')
      expect(l.agentArgs(h)).not.toContain('--no-mdns')
    }
    const agents = await l.startAll(first)
    const lastReady = Math.max(...agents.map((a) => a.readyAt))
    // Waits past the goal, so that a miss reports the figure rather than a timeout.
    const at = await waitAllAlive(l, first, 4 * JOIN_GOAL_MS)
    console.log(`mDNS join of 3 hosts: all see 3 alive ${at - lastReady} ms after the last was ready`)
    expect(at - lastReady).toBeLessThanOrEqual(JOIN_GOAL_MS)
  })

  it('a 4th host started later joins the same way', async () => {
    const l = lab as Lab
    const late = await l.addHost()
    const agent = await l.start(late)
    const at = await waitAllAlive(l, [...first, late], 4 * JOIN_GOAL_MS)
    console.log(`mDNS join of a 4th host: all see it alive ${at - agent.readyAt} ms after it was ready`)
    expect(at - agent.readyAt).toBeLessThanOrEqual(JOIN_GOAL_MS)
    // Everyone has the newcomer's lab address, found on the wire, not given.
    const row = (await l.nodes('h1')).find((n) => n.name === late) as { addrs?: string[] } | undefined
    expect(row?.addrs?.some((a) => a.startsWith(`/ip4/${l.hostInfo(late).addr}/tcp/`))).toBe(true)
  })
})
