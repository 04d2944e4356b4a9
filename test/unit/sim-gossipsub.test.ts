// The gossipsub model on its own (no cores): meshes within bounds, one delivery per node,
// duplicates that cost bytes, repair through IHAVE/IWANT, IDONTWANT, and the wire sizes.
import { describe, expect, it } from 'vitest'
import { EventQueue } from '../../src/sim/event-queue.js'
import { CLUSTER, EVENTS, GOSSIPSUB_DEFAULTS, Gossipsub, type GossipsubParams } from '../../src/sim/gossipsub.js'
import { DEFAULT_LINKS, Network, type LinkOptions, type NodeRunState } from '../../src/sim/network.js'
import { gossipFrameBytes, gossipMessageBytes, ihaveFrameBytes } from '../../src/sim/wire-sizes.js'

function world(n: number, params: Partial<GossipsubParams> = {}, links: Partial<LinkOptions> = {}, seed = 1, watchers?: (i: number) => boolean) {
  const queue = new EventQueue()
  const clock = { now: 0 }
  const states: NodeRunState[] = Array.from({ length: n }, () => 'up')
  const gens = Array.from({ length: n }, () => 1)
  const net = new Network(queue, clock, { runState: (i) => states[i] ?? 'down', generation: (i) => gens[i] ?? -1, backlog: () => undefined }, { ...DEFAULT_LINKS, ...links }, seed)
  net.traffic.ensure(n)
  const delivered: Array<Map<number, number>> = Array.from({ length: n }, () => new Map())
  const g = new Gossipsub({
    clock, queue, net, runState: (i) => states[i] ?? 'down', generation: (i) => gens[i] ?? -1, nodeCount: () => n,
    deliver: (i, m) => { const d = delivered[i] as Map<number, number>; d.set(m.id, (d.get(m.id) ?? 0) + 1) },
    watches: (i) => watchers?.(i) ?? false,
  }, { ...GOSSIPSUB_DEFAULTS, discoveryIntervalMs: 0, ...params }, seed)
  for (let i = 0; i < n; i++) g.startNode(i)
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) g.connect(i, j)
  const run = (ms: number): void => {
    const until = clock.now + ms
    for (let t = queue.peekTime(); t !== undefined && t <= until; t = queue.peekTime()) {
      const e = queue.pop() as { at: number; run: () => void }
      clock.now = e.at
      e.run()
    }
    clock.now = until
  }
  const reached = (id: number): number => delivered.filter((d) => d.has(id)).length
  return { g, net, run, delivered, reached, states, gens }
}

describe('gossipsub model', () => {
  it('the event topic reaches its subscribers only, whoever publishes, and meshes stay among them', () => {
    const watching = (i: number): boolean => i % 4 === 0
    const w = world(24, {}, {}, 1, watching)
    w.run(3_000)
    for (let i = 0; i < 24; i++) {
      if (!watching(i)) expect(w.g.meshOf(i, EVENTS)).toEqual([])
      else for (const p of w.g.meshOf(i, EVENTS)) expect(watching(p)).toBe(true)
    }
    for (const origin of [0, 3]) {
      const m = w.g.publish(origin, null, 200, EVENTS)
      w.run(500)
      const got = w.delivered.map((d, i) => (d.has(m!.id) ? i : -1)).filter((i) => i >= 0)
      expect(got).toEqual(Array.from({ length: 24 }, (_, i) => i).filter((i) => watching(i) && i !== origin))
    }
  })

  it('grows meshes from nothing to between D_lo and D_hi, symmetric', () => {
    const w = world(30)
    w.run(3_000)
    for (let i = 0; i < 30; i++) {
      const mesh = w.g.meshOf(i)
      expect(mesh.length).toBeGreaterThanOrEqual(4)
      expect(mesh.length).toBeLessThanOrEqual(12)
      for (const p of mesh) expect(w.g.meshOf(p)).toContain(i)
    }
  })

  it('delivers a publish once to every other node; duplicates cost bytes but are not delivered', () => {
    const w = world(30)
    w.run(3_000)
    const sentBefore = w.net.traffic.bytesSent[0] as number
    const m = w.g.publish(0, { hello: 1 }, 400)
    w.run(1_000)
    expect(m).toBeDefined()
    expect(w.reached(m!.id)).toBe(29)
    expect(w.delivered.every((d) => (d.get(m!.id) ?? 0) <= 1)).toBe(true)
    expect(w.delivered[0]?.has(m!.id)).toBe(false)
    // Flood publish: the author sends one copy to each of its 29 peers.
    expect((w.net.traffic.bytesSent[0] as number) - sentBefore).toBeGreaterThanOrEqual(29 * m!.frameBytes)
    expect(w.g.stats.duplicates).toBeGreaterThan(29)
    const copies = (w.g.stats.delivered + w.g.stats.duplicates) / w.g.stats.delivered
    expect(copies).toBeGreaterThan(3)
    expect(copies).toBeLessThan(13)
  })

  it('sizes a signed message and its frame like the real protobuf', () => {
    // from 38+2, data 400+1+2, seqno 8+2, topic 17+2, signature 64+2, key 36+2.
    expect(gossipMessageBytes(17, 400)).toBe(40 + 403 + 10 + 19 + 66 + 38)
    // RPC{publish: msg}: tag + varint(576) + 576, length prefix 2, noise + yamux 30.
    expect(gossipFrameBytes([576])).toBe(2 + (1 + 2 + 576) + 30)
    expect(ihaveFrameBytes(17, 10)).toBeGreaterThan(10 * 46)
  })

  it('repairs heavy loss through IHAVE/IWANT when publishing to the mesh only', () => {
    const w = world(40, { floodPublish: false, gossipFactor: 0.25 }, { gossipLoss: 0.4 }) // the library's default factor
    w.run(3_000)
    const ids = Array.from({ length: 10 }, (_, i) => w.g.publish(i, { i }, 300)!.id)
    w.run(6_000)
    for (const id of ids) expect(w.reached(id)).toBe(39)
    expect(w.g.stats.iwant).toBeGreaterThan(0)
    expect(w.g.stats.recoveredByGossip).toBeGreaterThan(0)
  })

  it('sends IDONTWANT for large messages only, and it saves copies when forwarding is multi-hop', () => {
    const copies = (dataBytes: number): { copies: number; idontwant: number } => {
      const w = world(60, { floodPublish: false }, { baseMs: 5, linkSpread: 0.8, jitterMs: 2 }, 3)
      w.run(3_000)
      for (let i = 0; i < 20; i++) w.g.publish(i, { i }, dataBytes)
      w.run(2_000)
      return { copies: (w.g.stats.delivered + w.g.stats.duplicates) / w.g.stats.delivered, idontwant: w.g.stats.idontwant }
    }
    const small = copies(300)
    const large = copies(2_000)
    expect(small.idontwant).toBe(0)
    expect(large.idontwant).toBeGreaterThan(0)
    expect(large.copies).toBeLessThan(small.copies)
  })

  it('drops a stopped node from its peers and meshes, and the meshes heal at the next heartbeats', () => {
    const w = world(20)
    w.run(3_000)
    const victim = 5
    const hadIt = w.g.meshOf(victim)
    w.g.stopNode(victim)
    w.states[victim] = 'down'
    for (const p of hadIt) expect(w.g.meshOf(p)).not.toContain(victim)
    w.run(3_000)
    for (let i = 0; i < 20; i++) if (i !== victim) expect(w.g.meshOf(i).length).toBeGreaterThanOrEqual(4)
    const m = w.g.publish(0, {}, 100, CLUSTER)!
    w.run(1_000)
    expect(w.reached(m.id)).toBe(18)
  })
})
