// Reaping of dead and left members (src/core/member-table.ts), on the simulated network with
// real cores: every node drops a dead member about reapAfterMs after it saw it die, a node that
// has not dropped it yet cannot bring it back, and a reaped node that restarts joins as usual.
import { describe, expect, it } from 'vitest'
import { TEST } from '../../src/core/config.js'
import type { NodeRecord } from '../../src/core/types.js'
import { SimCluster } from '../../src/sim/sim-cluster.js'

const REAP_MS = 10_000

function cluster(n: number, seed: number): SimCluster {
  const sim = new SimCluster({ seed, latencyMs: 1, jitterMs: 1, config: { ...TEST, reapAfterMs: REAP_MS } })
  for (let i = 1; i <= n; i++) sim.start(`node-${i}`, `n${i}`)
  sim.runUntilTrue(() => sim.ids().every((o) => sim.core(o).records().filter((r) => r.state === 'alive').length === n), 5_000)
  return sim
}

const holds = (sim: SimCluster, observer: string, target: string): boolean => sim.core(observer).records().some((r) => r.id === target)

describe('reaping', () => {
  it('drops a dead member everywhere after reapAfterMs, and a node that has not dropped it yet cannot bring it back', () => {
    const sim = cluster(5, 3)
    sim.run(2_000)
    const early = ['node-1', 'node-2', 'node-3']
    // node-4 hears of the death 2.5 s late (its event loop stalls meanwhile), so it still holds
    // the dead record while the others have dropped it, and pushes it to them in its syncs.
    sim.stall('node-4', 2_500)
    sim.kill('node-5')
    const diedAfter = sim.runUntilTrue(() => early.every((o) => sim.stateOf(o, 'node-5') === 'dead'), 5_000)
    const deadAt = sim.now
    sim.runUntilTrue(() => sim.stateOf('node-4', 'node-5') === 'dead', 5_000)
    expect(diedAfter).toBeLessThan(1_000)

    const reapedAfter = sim.runUntilTrue(() => early.every((o) => !holds(sim, o, 'node-5')), REAP_MS + 2_000)
    expect(sim.now - deadAt).toBeGreaterThanOrEqual(REAP_MS - 100)
    expect(reapedAfter).toBeLessThan(REAP_MS + 1_000)
    expect(holds(sim, 'node-4', 'node-5')).toBe(true)

    // From here on, count the stale record offered to the nodes that dropped it.
    let offered = 0
    const carriesIt = (records: readonly NodeRecord[]): boolean => records.some((r) => r.id === 'node-5')
    sim.hooks.onSend = (_at, from, to, msg) => {
      if (from === 'node-4' && early.includes(to) && (msg.type === 'sync' || msg.type === 'sync-push') && carriesIt(msg.records)) offered++
    }
    sim.hooks.dropReply = (_at, from, to, msg) => {
      if (from === 'node-4' && early.includes(to) && msg.type === 'sync' && carriesIt(msg.records)) offered++
      return false
    }
    let cameBack = false
    sim.runUntilTrue(() => {
      if (early.some((o) => holds(sim, o, 'node-5'))) cameBack = true
      return !holds(sim, 'node-4', 'node-5')
    }, 5_000)
    expect(offered, 'node-4 pushed its stale record to a node that had dropped it').toBeGreaterThan(0)
    expect(cameBack).toBe(false)

    sim.run(10_000)
    for (const o of ['node-1', 'node-2', 'node-3', 'node-4']) {
      expect(sim.core(o).records().map((r) => r.id).sort(), o).toEqual(['node-1', 'node-2', 'node-3', 'node-4'])
      expect(sim.core(o).stats.reaped, o).toBe(1)
    }
  })

  it('a node that starts after a death never takes in the dead member', () => {
    const sim = cluster(4, 5)
    sim.kill('node-4')
    sim.runUntilTrue(() => ['node-1', 'node-2', 'node-3'].every((o) => sim.stateOf(o, 'node-4') === 'dead'), 5_000)
    sim.start('node-5', 'n5')
    sim.runUntilTrue(() => sim.core('node-5').records().filter((r) => r.state === 'alive').length === 4, 5_000)
    // Several push-pulls with nodes that still hold the dead record, which it is offered each time.
    sim.run(6_000)
    expect(holds(sim, 'node-1', 'node-4')).toBe(true)
    expect(holds(sim, 'node-5', 'node-4')).toBe(false)
  })

  it('a reaped node that restarts with its identity comes back alive with a higher incarnation', () => {
    const sim = cluster(4, 7)
    const before = sim.core('node-4').selfRecord().incarnation
    sim.kill('node-4')
    sim.runUntilTrue(() => ['node-1', 'node-2', 'node-3'].every((o) => !holds(sim, o, 'node-4')), REAP_MS + 5_000)
    sim.start('node-4', 'n4')
    sim.runUntilTrue(() => sim.ids().every((o) => sim.core(o).records().filter((r) => r.state === 'alive').length === 4), 5_000)
    expect(sim.core('node-1').records().find((r) => r.id === 'node-4')?.incarnation).toBeGreaterThan(before)
    const joined = sim.events.filter((e) => e.event.type === 'node' && e.event.node === 'node-4' && e.event.reason === 'joined' && e.observer === 'node-1')
    expect(joined.length).toBe(2)
  })

  it('drops a member that left, like one that died', () => {
    const sim = cluster(4, 9)
    sim.leave('node-2')
    sim.runUntilTrue(() => ['node-1', 'node-3', 'node-4'].every((o) => sim.stateOf(o, 'node-2') === 'left'), 1_000)
    const took = sim.runUntilTrue(() => ['node-1', 'node-3', 'node-4'].every((o) => !holds(sim, o, 'node-2')), REAP_MS + 2_000)
    expect(took).toBeGreaterThanOrEqual(REAP_MS - 100)
  })
})
