// The hot path's message budget (issue 19): a single-instance batch job, submitted to a node that
// neither stores nor runs it, reaches `succeeded` on every storing node in at most 5 messages:
// the submit to its arbiter, the job (with its claim) to the two other storing nodes, and the
// run's end from the runner (a storing node, when one has room) to the two others. Membership
// (probes, push-pull) and the periodic state exchange are not per job and are not counted; the
// activity digests (observers' events and capacity) are counted apart: a bounded number per node
// and interval, whatever the job rate.
import { describe, expect, it } from 'vitest'
import type { RpcRequest } from '../../src/core/types.js'
import { SimCluster, simSpec } from '../../src/sim/sim-cluster.js'

const NOT_PER_JOB = new Set<RpcRequest['type']>(['ping', 'ping-req', 'sync', 'sync-push', 'leave', 'job-sync', 'job-fetch', 'directory'])

function cluster(seed: number, n = 5): SimCluster {
  const sim = new SimCluster({ seed, latencyMs: 1, jitterMs: 1 })
  for (let i = 1; i <= n; i++) sim.start(`node-${i}`, `n${i}`)
  sim.runUntilTrue(() => sim.ids().every((o) => sim.core(o).records().filter((r) => r.state === 'alive').length === n), 5_000)
  sim.run(1_000)
  return sim
}

/** Job messages sent, by type, and activity digests published, while `run` goes. */
function count(sim: SimCluster, run: () => void): { byType: Map<string, number>; total: number; digests: number } {
  const byType = new Map<string, number>()
  let digests = 0
  sim.hooks.onSend = (_at, _from, _to, msg) => { if (!NOT_PER_JOB.has(msg.type)) byType.set(msg.type, (byType.get(msg.type) ?? 0) + 1) }
  sim.hooks.onPublish = (_at, _from, msg) => { if (msg.type === 'activity') digests++ }
  run()
  sim.hooks.onSend = undefined
  sim.hooks.onPublish = undefined
  return { byType, total: [...byType.values()].reduce((a, b) => a + b, 0), digests }
}

describe('the message budget of a job', () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`a single-instance batch job submitted to a node that neither stores nor runs it: at most 5 messages (seed ${seed})`, () => {
      const sim = cluster(seed)
      let job = ''
      let via = ''
      for (let i = 0; job === ''; i++) {
        const storing = sim.storing(`budget-${i}`)
        via = sim.ids().find((n) => !storing.includes(n)) as string
        if (via !== undefined) job = `budget-${i}`
      }
      const { byType, total, digests } = count(sim, () => {
        const req = sim.submit(via, job, simSpec({ env: { SIM_DURATION_MS: '50' } }))
        sim.runUntilTrue(() => sim.replies.get(req)?.status === 201 && sim.statesOnStoring(job).every((s) => s === 'succeeded'), 5_000)
      })
      const runner = sim.runs.find((r) => r.jobId === job)?.node as string
      expect(runner).not.toBe(via)
      expect(sim.storing(job)).toContain(runner)
      expect(Object.fromEntries(byType)).toEqual({ 'submit-job': 1, 'store-job': 2, 'job-delta': 2 })
      expect(total).toBeLessThanOrEqual(5)
      // The runner's digest carries the run's start and the node's capacity; the arbiter's its
      // claim and the end: one or two each, not one per event.
      expect(digests).toBeLessThanOrEqual(4)
    })
  }

  it('under load the average stays within the budget, digests included, thanks to batching', () => {
    const sim = cluster(7)
    const ids = Array.from({ length: 300 }, (_, i) => `load-${i}`)
    const { total, digests } = count(sim, () => {
      ids.forEach((id, i) => sim.at(sim.now + i * 5, () => { sim.submit(`node-${1 + (i % 5)}`, id, simSpec({ resources: { cpu: 0.1, memoryMb: 16 }, env: { SIM_DURATION_MS: '20' } })) }))
      // Checked every 100 ms of simulated time: a check walks 300 jobs on their storing nodes.
      for (let t = 0; t < 300 && !ids.every((id) => sim.statesOnStoring(id).every((s) => s === 'succeeded')); t++) sim.run(100)
    })
    expect(ids.every((id) => sim.statesOnStoring(id).every((s) => s === 'succeeded'))).toBe(true)
    expect(sim.runs.filter((r) => r.jobId.startsWith('load-'))).toHaveLength(300)
    // Submits to a storing node save the first message; deltas to one node in one step go as one.
    expect(total / ids.length).toBeLessThanOrEqual(5)
    expect((total + digests) / ids.length, `${total} messages and ${digests} digests for ${ids.length} jobs`).toBeLessThanOrEqual(5)
  })
})
