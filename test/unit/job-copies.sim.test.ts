// Every node serves the whole job listing (GET /v1/jobs), whatever it holds itself: a listing asks
// every live node for the jobs it stores. A node that was down while jobs were submitted never
// heard of them (nothing per job goes to every node); it must still list them all, and the jobs it
// became a storing node of when it came back must be copied to its disk (replica repair), even
// when every gossip frame is lost meanwhile.
import { describe, expect, it } from 'vitest'
import { SimCluster, simSpec } from '../../src/sim/sim-cluster.js'

function cluster(n: number, seed: number): SimCluster {
  const sim = new SimCluster({ seed, latencyMs: 1, jitterMs: 1 })
  for (let i = 1; i <= n; i++) sim.start(`node-${i}`, `n${i}`)
  sim.runUntilTrue(() => sim.ids().every((o) => sim.core(o).records().filter((r) => r.state === 'alive').length === n), 5_000)
  return sim
}

describe('jobs a node missed', () => {
  it('a node restarted after missing jobs lists them all, and keeps a copy of those it now stores', () => {
    const sim = cluster(6, 3)
    const victim = 'node-6'
    sim.kill(victim)
    sim.runUntilTrue(() => sim.core('node-1').records().find((r) => r.id === victim)?.state === 'dead', 30_000)
    const ids = Array.from({ length: 30 }, (_, i) => `m${i}`)
    const reqs = ids.map((id, i) => sim.submit(`node-${1 + (i % 5)}`, id, simSpec({ env: { SIM_DURATION_MS: '100' } })))
    sim.runUntilTrue(() => reqs.every((r) => sim.replies.get(r)?.status === 201), 10_000)
    sim.runUntilTrue(() => ids.every((id) => sim.statesOnStoring(id).every((s) => s === 'succeeded')), 30_000)
    sim.net.setLoss(1, 0)
    sim.restart(victim)
    sim.run(5_000)
    sim.net.setLoss(0, 0)
    const stores = ids.filter((id) => sim.core('node-1').replicaSet(id).includes(victim))
    expect(stores.length).toBeGreaterThan(0)
    sim.runUntilTrue(() => stores.every((id) => sim.storedOn(id).includes(victim) && sim.core(victim).jobStatus(id)?.state === 'succeeded'), 30_000)
    const req = sim.api(victim, { op: 'list' })
    sim.runUntilTrue(() => sim.replies.has(req), 5_000)
    const listed = (sim.replies.get(req)?.body as { jobs: Array<{ id: string; state: string }> }).jobs
    expect(ids.filter((id) => !listed.some((j) => j.id === id && j.state === 'succeeded'))).toEqual([])
  })
})
