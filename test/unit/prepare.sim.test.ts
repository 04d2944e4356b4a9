// The arbiter asks its own node to make a run ready (prepare-process) when it claims the run for
// itself, and only then: the start follows a round trip later (the claim on the other storing
// nodes' disks), which the agent spends forking the process behind its gate
// (src/execution/prepared.ts). A claim for another node prepares nothing anywhere.
import { describe, expect, it } from 'vitest'
import { SimCluster, simSpec } from '../../src/sim/sim-cluster.js'

function cluster(seed: number): SimCluster {
  const sim = new SimCluster({ seed, latencyMs: 1, jitterMs: 1 })
  for (let i = 1; i <= 4; i++) sim.start(`node-${i}`, `n${i}`)
  sim.start('node-5', 'n5', { cpu: 4, memoryMb: 4096 }, { zone: 'b' })
  sim.runUntilTrue(() => sim.ids().every((o) => sim.core(o).records().filter((r) => r.state === 'alive').length === 5), 5_000)
  return sim
}

interface Prepared { at: number; node: string; allocId: string }

describe('prepare-process', () => {
  it('comes from the arbiter for its own claims, before their start, and for nothing else', () => {
    const sim = cluster(3)
    const prepared: Prepared[] = []
    sim.hooks.onPrepare = (at, node, allocId) => { prepared.push({ at, node, allocId }) }
    const jobs = Array.from({ length: 12 }, (_, i) => `p-${i}`)
    for (const [i, job] of jobs.entries()) {
      sim.submit(`node-${(i % 5) + 1}`, job, simSpec({ env: { SIM_DURATION_MS: '20' } }))
      sim.runUntilTrue(() => sim.statesOnStoring(job).every((s) => s === 'succeeded'), 5_000)
    }
    let own = 0
    for (const job of jobs) {
      const runs = sim.runs.filter((r) => r.jobId === job)
      expect(runs).toHaveLength(1)
      const run = runs[0]!
      const arbiter = sim.storing(job)[0]
      const mine = prepared.filter((p) => p.allocId === run.allocId)
      if (run.node === arbiter) {
        own++
        expect(mine.map((p) => p.node)).toEqual([run.node])
        expect(mine[0]!.at).toBeLessThanOrEqual(run.startedAt)
      } else {
        expect(mine).toEqual([])
      }
    }
    // Batch jobs pack onto the storing nodes, and the arbiter knows its own room best: most runs are its own.
    expect(own).toBeGreaterThan(0)
    expect(prepared.every((p) => jobs.some((j) => p.allocId.startsWith(`${j}.`)))).toBe(true)
  })

  it('is not asked for when the arbiter claims the run for another node', () => {
    const sim = cluster(4)
    const prepared: Prepared[] = []
    sim.hooks.onPrepare = (at, node, allocId) => { prepared.push({ at, node, allocId }) }
    // Only node-5 has zone=b; a job it does not store is claimed for it by an arbiter elsewhere.
    let job = ''
    for (let i = 0; job === ''; i++) if (!sim.storing(`zb-${i}`).includes('node-5')) job = `zb-${i}`
    sim.submit('node-1', job, simSpec({ constraints: [{ label: 'zone', op: '=', value: 'b' }], env: { SIM_DURATION_MS: '20' } }))
    sim.runUntilTrue(() => sim.statesOnStoring(job).every((s) => s === 'succeeded'), 5_000)
    expect(sim.runs.filter((r) => r.jobId === job).map((r) => r.node)).toEqual(['node-5'])
    expect(prepared).toEqual([])
  })
})
