// The simulated network on its own: latency distributions, loss, partitions, accounting.
import { describe, expect, it } from 'vitest'
import { EventQueue } from '../../src/sim/event-queue.js'
import { percentile } from '../../src/sim/histogram.js'
import { DEFAULT_LINKS, Network, type LinkOptions, type NodeRunState } from '../../src/sim/network.js'

function net(links: Partial<LinkOptions> = {}, states: NodeRunState[] = ['up', 'up', 'up', 'up']): { n: Network; q: EventQueue; clock: { now: number }; backlog: Array<() => void> } {
  const q = new EventQueue()
  const clock = { now: 0 }
  const backlog: Array<() => void> = []
  const n = new Network(q, clock, { runState: (i) => states[i] ?? 'down', generation: () => 1, backlog: (_i, fn) => backlog.push(fn) }, { ...DEFAULT_LINKS, ...links }, 7)
  n.traffic.ensure(states.length)
  return { n, q, clock, backlog }
}

function drain(q: EventQueue, clock: { now: number }): void {
  for (let e = q.pop(); e !== undefined; e = q.pop()) { clock.now = e.at; e.run() }
}

describe('simulated network', () => {
  it('orders events by time, then by insertion', () => {
    const q = new EventQueue()
    const seen: string[] = []
    q.push(5, () => seen.push('c'))
    q.push(1, () => seen.push('a'))
    q.push(5, () => seen.push('d'))
    q.push(3, () => seen.push('b'))
    for (let e = q.pop(); e !== undefined; e = q.pop()) e.run()
    expect(seen).toEqual(['a', 'b', 'c', 'd'])
  })

  it('gives each link a fixed base within the spread, and lognormal jitter with the configured median', () => {
    const { n } = net({ baseMs: 2, linkSpread: 0.25, jitter: 'lognormal', jitterMs: 0.5, sigma: 0.5 })
    for (let a = 0; a < 20; a++) for (let b = 0; b < 20; b++) {
      expect(n.linkBaseMs(a, b)).toBe(n.linkBaseMs(b, a))
      expect(n.linkBaseMs(a, b)).toBeGreaterThanOrEqual(1.5)
      expect(n.linkBaseMs(a, b)).toBeLessThanOrEqual(2.5)
    }
    const jitter = Array.from({ length: 20_000 }, () => n.latencyMs(1, 2) - n.linkBaseMs(1, 2))
    expect(Math.min(...jitter)).toBeGreaterThan(0)
    expect(percentile(jitter, 50)).toBeCloseTo(0.5, 1)
    // p99 of a lognormal with sigma 0.5 is e^(0.5 * 2.326) = 3.2x the median.
    expect(percentile(jitter, 99) / percentile(jitter, 50)).toBeGreaterThan(2.7)
    expect(percentile(jitter, 99) / percentile(jitter, 50)).toBeLessThan(3.8)
  })

  it('draws uniform jitter in [0, jitterMs)', () => {
    const { n } = net({ baseMs: 1, linkSpread: 0, jitter: 'uniform', jitterMs: 2 })
    const xs = Array.from({ length: 5_000 }, () => n.latencyMs(0, 1))
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(1)
    expect(Math.max(...xs)).toBeLessThan(3)
    expect(percentile(xs, 50)).toBeCloseTo(2, 0)
  })

  it('counts bytes and messages at both ends, drops what is lost or blocked, and backlogs a frozen receiver', () => {
    const { n, q, clock, backlog } = net({ gossipLoss: 0.5 }, ['up', 'up', 'frozen', 'down'])
    let arrived = 0
    for (let i = 0; i < 1_000; i++) n.transmit(0, 1, 100, 'gossip', () => arrived++)
    n.transmit(0, 1, 50, 'rpc', () => arrived++)
    drain(q, clock)
    expect(n.traffic.bytesSent[0]).toBe(100_050)
    expect(n.traffic.msgsSent[0]).toBe(1_001)
    expect(arrived).toBeGreaterThan(430)
    expect(arrived).toBeLessThan(570)
    expect(n.traffic.bytesRecv[1]).toBe((arrived - 1) * 100 + 50)
    n.transmit(0, 2, 10, 'rpc', () => arrived++)
    n.transmit(0, 3, 10, 'rpc', () => arrived++)
    const before = arrived
    drain(q, clock)
    expect(arrived).toBe(before)
    expect(backlog).toHaveLength(1)
    expect(n.traffic.bytesRecv[2]).toBe(10)
    expect(n.traffic.bytesRecv[3]).toBe(0)
  })

  it('blocks links across a partition and along a cut until healed', () => {
    const { n } = net()
    const p = n.partition([0, 1])
    expect(n.blocked(0, 1)).toBe(false)
    expect(n.blocked(0, 2)).toBe(true)
    expect(n.blocked(3, 1)).toBe(true)
    expect(n.blocked(2, 3)).toBe(false)
    n.heal(p)
    expect(n.blocked(0, 2)).toBe(false)
    n.cut(2, 3, true)
    expect(n.blocked(3, 2)).toBe(true)
    n.cut(3, 2, false)
    expect(n.blocked(2, 3)).toBe(false)
  })
})
