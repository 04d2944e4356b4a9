// N nodes all joining one seed at once (issue 19: `--join` to the first agent), in the simulator.
// Each joiner holds one gossip connection, to its seed, and one more connection without gossip
// (a peer it found, whose subscription it has not heard yet): like a real joiner, whose other
// connections come later, one dial at a time. The seed grafts at most D_hi of them into its
// gossipsub mesh, so most joiners are in nobody's mesh: what the seed forwards reaches a dozen of
// them, what it publishes itself (flood publish) reaches every one.
// A node that learns a new member first hand in a push-pull relays it (membership-outbox.ts), so
// the seed publishes every joiner it takes in. Without it, a joiner was known by the others only
// through its own announcement (which reaches the seed's mesh peers), lazy gossip and the periodic
// push-pull with a connected member: here all 50 saw 50 alive after 25.1, 15.1 and 20.1 s of
// simulated time (seeds 1-3); with it after 0.2 s.
import { describe, expect, it } from 'vitest'
import { colocated, LAN } from '../../src/core/config.js'
import { SimCluster } from '../../src/sim/sim-cluster.js'

const N = 50
/** Every join push-pull and the seed's relays (one message per tick) take 0.2 s here; 2 s leaves room, and is far below the 15-25 s without relays. */
const CONVERGED_WITHIN_MS = 2_000

/** Simulated ms from now until every node sees every node alive, checked every 100 ms. */
function timeToConverge(sim: SimCluster, maxMs: number): number {
  const ids = sim.ids()
  const start = sim.now
  while (!ids.every((o) => ids.every((t) => o === t || sim.stateOf(o, t) === 'alive'))) {
    if (sim.now - start >= maxMs) throw new Error(`not converged within ${maxMs} ms`)
    sim.run(100)
  }
  return sim.now - start
}

function launch(seed: number): SimCluster {
  const sim = new SimCluster({ seed, latencyMs: 1, jitterMs: 1, joinSeed: 'node-1', config: colocated(LAN) })
  sim.start('node-1', 'n1')
  sim.run(2_000)
  for (let i = 2; i <= N; i++) {
    sim.start(`node-${i}`, `n${i}`)
    sim.connect(`node-${i}`, 'node-1')
  }
  return sim
}

describe('join relay: N nodes joining one seed at once', () => {
  it.each([1, 2, 3])(`all ${N} see ${N} alive within 2 s of the launch (seed %i)`, (seed) => {
    const sim = launch(seed)
    const took = timeToConverge(sim, 120_000)
    expect(took).toBeLessThanOrEqual(CONVERGED_WITHIN_MS)
    // The seed relayed the joiners it took in first hand, in batches (one message per tick).
    const seedStats = sim.core('node-1').stats
    expect(seedStats.relayed).toBeGreaterThan(0)
    expect(seedStats.relayed).toBeLessThanOrEqual(N - 1)
  })

  it('an idle cluster relays nothing: a relay is a new member learned first hand, not a refresh', () => {
    const sim = launch(4)
    timeToConverge(sim, 120_000)
    const before = sim.ids().map((id) => sim.core(id).stats.relayed)
    sim.run(30_000)
    expect(sim.ids().map((id) => sim.core(id).stats.relayed)).toEqual(before)
  })
})
