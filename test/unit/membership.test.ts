// The membership state machine on the simulated network: real cores, fake clock, seeded.
import { describe, expect, it } from 'vitest'
import { SimCluster } from '../../src/sim/sim-cluster.js'

function cluster(n: number, seed = 1): SimCluster {
  const sim = new SimCluster({ seed, latencyMs: 1, jitterMs: 1 })
  for (let i = 1; i <= n; i++) sim.start(`node-${i}`, `n${i}`)
  return sim
}

function allSee(sim: SimCluster, target: string, state: string, observers = sim.ids().filter((id) => id !== target)): boolean {
  return observers.every((o) => sim.stateOf(o, target) === state)
}

function converged(sim: SimCluster, n: number): boolean {
  return sim.ids().every((o) => sim.core(o).records().filter((r) => r.state === 'alive').length === n)
}

describe('membership', () => {
  it('five nodes converge to one view of five alive members', () => {
    const sim = cluster(5)
    const took = sim.runUntilTrue(() => converged(sim, 5), 5_000)
    expect(took).toBeLessThan(1_000)
  })

  it('declares a killed node dead everywhere within 1.5 s (well under 1 s: its dials are refused)', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const sim = cluster(5, seed)
      sim.runUntilTrue(() => converged(sim, 5), 5_000)
      sim.run(3_000)
      sim.kill('node-3')
      const took = sim.runUntilTrue(() => allSee(sim, 'node-3', 'dead', ['node-1', 'node-2', 'node-4', 'node-5']), 10_000)
      expect(took, `seed ${seed}`).toBeLessThanOrEqual(1_500)
      // Refused dials shortcut the suspicion (150 ms instead of Lifeguard's 1-2.5 s).
      expect(took, `seed ${seed}`).toBeLessThan(1_000)
    }
  })

  it('declares a frozen node (sockets open, no hint) dead within 4 s', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const sim = cluster(5, seed)
      sim.runUntilTrue(() => converged(sim, 5), 5_000)
      sim.run(2_000)
      sim.freeze('node-2')
      const took = sim.runUntilTrue(() => allSee(sim, 'node-2', 'dead', ['node-1', 'node-3', 'node-4', 'node-5']), 20_000)
      expect(took, `seed ${seed}`).toBeLessThanOrEqual(4_000)
      // A frozen node's socket still accepts: no refused-dial shortcut, Lifeguard's full timeout.
      expect(took, `seed ${seed}`).toBeGreaterThanOrEqual(1_000)
    }
  })

  it('never declares dead a node whose event loop stalls for 300 ms', () => {
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const sim = cluster(5, seed)
      sim.runUntilTrue(() => converged(sim, 5), 5_000)
      for (let i = 0; i < 20; i++) {
        sim.run(700)
        sim.stall(`node-${1 + (i % 5)}`, 300)
      }
      sim.run(5_000)
      const deaths = sim.events.filter((e) => e.event.type === 'node' && e.event.to === 'dead')
      expect(deaths, `seed ${seed}`).toEqual([])
      expect(converged(sim, 5)).toBe(true)
    }
  })

  it('a node stalled long enough to be suspected refutes in time and is not declared dead', () => {
    let suspicions = 0
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const sim = cluster(5, seed)
      sim.runUntilTrue(() => converged(sim, 5), 5_000)
      for (let i = 0; i < 6; i++) {
        sim.run(3_000)
        sim.stall(`node-${1 + (i % 5)}`, 1_200)
      }
      sim.run(5_000)
      suspicions += sim.events.filter((e) => e.event.type === 'node' && e.event.to === 'suspect').length
      expect(sim.events.filter((e) => e.event.type === 'node' && e.event.to === 'dead'), `seed ${seed}`).toEqual([])
      expect(converged(sim, 5)).toBe(true)
    }
    // The stalls are long enough that probes fail: the refutation path really ran.
    expect(suspicions).toBeGreaterThan(0)
  })

  it('a frozen node that comes back refutes its death with a higher incarnation', () => {
    const sim = cluster(4)
    sim.runUntilTrue(() => converged(sim, 4), 5_000)
    const before = sim.core('node-4').selfRecord().incarnation
    sim.freeze('node-4')
    sim.runUntilTrue(() => allSee(sim, 'node-4', 'dead', ['node-1', 'node-2', 'node-3']), 10_000)
    sim.thaw('node-4')
    sim.runUntilTrue(() => allSee(sim, 'node-4', 'alive'), 10_000)
    expect(sim.core('node-4').selfRecord().incarnation).toBeGreaterThan(before)
    const refuted = sim.events.filter((e) => e.event.type === 'node' && e.event.node === 'node-4' && e.event.reason === 'refuted')
    expect(refuted.length).toBeGreaterThanOrEqual(3)
  })

  it('a graceful leave is seen as left at once, not as a failure', () => {
    const sim = cluster(4)
    sim.runUntilTrue(() => converged(sim, 4), 5_000)
    sim.leave('node-2')
    const took = sim.runUntilTrue(() => allSee(sim, 'node-2', 'left', ['node-1', 'node-3', 'node-4']), 5_000)
    expect(took).toBeLessThan(50)
    sim.run(10_000)
    expect(allSee(sim, 'node-2', 'left', ['node-1', 'node-3', 'node-4'])).toBe(true)
    expect(sim.events.filter((e) => e.event.node === 'node-2' && (e.event.type === 'node' && e.event.to === 'suspect' || e.event.type === 'node' && e.event.to === 'dead'))).toEqual([])
  })

  it('a node restarted from its persisted state comes back alive with a higher incarnation', () => {
    const sim = cluster(3)
    sim.runUntilTrue(() => converged(sim, 3), 5_000)
    const before = sim.core('node-3').selfRecord().incarnation
    sim.kill('node-3')
    sim.runUntilTrue(() => allSee(sim, 'node-3', 'dead', ['node-1', 'node-2']), 5_000)
    sim.start('node-3', 'n3')
    sim.runUntilTrue(() => converged(sim, 3), 5_000)
    expect(sim.core('node-3').selfRecord().incarnation).toBeGreaterThan(before)
  })

  it('a node cut off from everyone is declared dead, and rejoins when the cut heals', () => {
    const sim = cluster(4)
    sim.runUntilTrue(() => converged(sim, 4), 5_000)
    for (const other of ['node-1', 'node-2', 'node-3']) sim.cut('node-4', other)
    sim.runUntilTrue(() => allSee(sim, 'node-4', 'dead', ['node-1', 'node-2', 'node-3']), 10_000)
    for (const other of ['node-1', 'node-2', 'node-3']) sim.cut('node-4', other, false)
    // No new connection event after a heal: the periodic push-pull alone must repair the views.
    sim.runUntilTrue(() => converged(sim, 4), 15_000)
  })

  it('two halves that declared each other dead merge again after the partition heals', () => {
    const sim = cluster(6, 4)
    sim.runUntilTrue(() => converged(sim, 6), 5_000)
    const left = ['node-1', 'node-2', 'node-3']
    const right = ['node-4', 'node-5', 'node-6']
    const cut = sim.partition(left)
    sim.runUntilTrue(() => right.every((t) => allSee(sim, t, 'dead', left)) && left.every((t) => allSee(sim, t, 'dead', right)), 10_000)
    sim.run(3_000) // settled apart: no suspicion or refutation of the split is still in flight
    sim.heal(cut)
    // Nobody probes the dead and unchanged records are not re-announced: the push-pull with a
    // random dead member (reconnectIntervalMs) is what finds the other side.
    sim.runUntilTrue(() => converged(sim, 6), 15_000)
  })

  it('a node that missed all gossip converges through the state exchange', () => {
    const sim = new SimCluster({ seed: 9, gossipLoss: 1 })
    for (let i = 1; i <= 6; i++) sim.start(`node-${i}`)
    sim.runUntilTrue(() => converged(sim, 6), 5_000)
    sim.kill('node-6')
    sim.runUntilTrue(() => allSee(sim, 'node-6', 'dead', ['node-1', 'node-2', 'node-3', 'node-4', 'node-5']), 10_000)
  })

  it('is deterministic: the same seed gives the same event history', () => {
    const run = (): string => {
      const sim = cluster(6, 42)
      sim.run(3_000)
      sim.kill('node-2')
      sim.freeze('node-5')
      sim.run(6_000)
      sim.thaw('node-5')
      sim.run(3_000)
      return JSON.stringify(sim.events)
    }
    expect(run()).toBe(run())
  })
})
