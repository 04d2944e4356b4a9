// A freed slot wakes the waiting instances it has room for, not every waiting one: in a full
// cell each end used to rank the cell again for every waiting job (one agent, 20 slots, ~500
// waiting: 14x the allocation of a cell without a queue, and an agent heap that grew with it).
import { describe, expect, it } from 'vitest'
import { WakeRoom } from '../../src/core/wake-room.js'
import type { NodeView } from '../../src/placement/index.js'
import { SimCluster, simSpec } from '../../src/sim/sim-cluster.js'

const view = (id: string, cpu: number, over: Partial<NodeView> = {}): NodeView => ({
  id, name: id, state: 'alive', draining: false, total: { cpu: 4, memoryMb: 4096 }, free: { cpu, memoryMb: 1024 }, labels: {}, ...over,
})

describe('WakeRoom', () => {
  it('hands out the room in our views instance by instance, and then none', () => {
    const room = new WakeRoom([view('a', 0.25), view('b', 0.1)])
    const need = { cpu: 0.1, memoryMb: 16 }
    expect([room.take(need, []), room.take(need, []), room.take(need, []), room.take(need, [])]).toEqual([true, true, true, false])
    expect(room.empty()).toBe(false)
    expect(room.take({ cpu: 0.05, memoryMb: 16 }, [])).toBe(true)
    expect(room.take({ cpu: 0.01, memoryMb: 16 }, [])).toBe(false)
  })

  it('counts only nodes placement could use, and a node only for jobs it satisfies', () => {
    const room = new WakeRoom([view('dead', 2, { state: 'dead' }), view('drain', 2, { draining: true }), view('gpu', 1, { labels: { gpu: 'yes' } })])
    const need = { cpu: 1, memoryMb: 16 }
    expect(room.take(need, [{ label: 'gpu', op: '=', value: 'no' }])).toBe(false)
    expect(room.take(need, [{ label: 'gpu', op: '=', value: 'yes' }])).toBe(true)
    expect(room.empty()).toBe(true)
    expect(new WakeRoom([view('full', 0)]).empty()).toBe(true)
  })
})

describe('waiting instances in a full node', () => {
  it('each end wakes about one waiting instance, and every job still runs', () => {
    const sim = new SimCluster({ seed: 3, latencyMs: 1, jitterMs: 1 })
    sim.start('node-1', 'n1', { cpu: 2, memoryMb: 4096 })
    sim.runUntilTrue(() => sim.core('node-1').records().some((r) => r.state === 'alive'), 5_000)
    // 20 run at once; the other 180 wait, and 200 ends each free room for one.
    const ids = Array.from({ length: 200 }, (_, i) => `w${i}`)
    for (const id of ids) sim.submit('node-1', id, simSpec({ resources: { cpu: 0.1, memoryMb: 16 }, env: { SIM_DURATION_MS: '20' } }))
    sim.runUntilTrue(() => ids.every((id) => sim.core('node-1').jobStatus(id)?.state === 'succeeded'), 60_000)
    expect(sim.violations()).toEqual({ duplicates: [], overcommit: [] })
    // Each waiting instance fails to find room when it is first decided, and again at its timed
    // retries (0.5, 1, 2 s) while it waits. Waking every waiting job at each end made it ~10,000.
    const passes = sim.core('node-1').stats.noRoomPasses
    expect(passes).toBeGreaterThan(0)
    expect(passes).toBeLessThan(ids.length * 4)
  })
})
