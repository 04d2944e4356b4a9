// Where jobs are gossiped to every node (a cell of at most gossipMaxNodes), every node serves the
// whole job listing from its own table (GET /v1/jobs). A node that was down while jobs were
// submitted, and does not store them, never got their gossip: the state exchange must bring it
// those copies, or its listing stays short for good (seen in `npm run chaos`: a restarted agent
// listed 200 jobs less a few, two minutes after the faults ended: gossip had reached it before
// its mesh had, and nothing repaired it).
import { describe, expect, it } from 'vitest'
import { SimCluster, simSpec } from '../../src/sim/sim-cluster.js'

function cluster(n: number, seed: number): SimCluster {
  const sim = new SimCluster({ seed, latencyMs: 1, jitterMs: 1 })
  for (let i = 1; i <= n; i++) sim.start(`node-${i}`, `n${i}`)
  sim.runUntilTrue(() => sim.ids().every((o) => sim.core(o).records().filter((r) => r.state === 'alive').length === n), 5_000)
  return sim
}

describe('job copies in a gossiped cell', () => {
  it('a node restarted after missing jobs it does not store gets a copy of each, and lists them all', () => {
    const sim = cluster(6, 3)
    const victim = 'node-6'
    sim.kill(victim)
    sim.runUntilTrue(() => sim.core('node-1').records().find((r) => r.id === victim)?.state === 'dead', 30_000)
    const ids = Array.from({ length: 30 }, (_, i) => `m${i}`)
    const reqs = ids.map((id, i) => sim.submit(`node-${1 + (i % 5)}`, id, simSpec({ env: { SIM_DURATION_MS: '100' } })))
    sim.runUntilTrue(() => reqs.every((r) => sim.replies.get(r)?.status === 201), 10_000)
    sim.runUntilTrue(() => ids.every((id) => sim.core('node-1').jobStatus(id)?.state === 'succeeded'), 30_000)
    // Gossip is best-effort: here every gossip frame is lost while the node comes back (what
    // the others announce when it is live again), so only the state exchange can bring it the
    // jobs. Some of them move to it as a storing node when it is live again; the others it only
    // holds as copies.
    sim.net.setLoss(1, 0)
    sim.restart(victim)
    sim.run(5_000)
    sim.net.setLoss(0, 0)
    const storesSome = ids.filter((id) => !sim.core('node-1').replicaSet(id).includes(victim))
    expect(storesSome.length).toBeGreaterThan(0)
    sim.runUntilTrue(() => ids.every((id) => sim.core(victim).jobStatus(id)?.state === 'succeeded'), 60_000)
    const req = sim.api(victim, { op: 'list' })
    sim.runUntilTrue(() => sim.replies.has(req), 5_000)
    const listed = (sim.replies.get(req)?.body as { jobs: Array<{ id: string }> }).jobs.map((j) => j.id)
    expect(ids.filter((id) => !listed.includes(id))).toEqual([])
  })
})
