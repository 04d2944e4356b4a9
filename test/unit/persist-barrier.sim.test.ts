// The persist barrier with real cores (src/core/effect-interpreter.ts): with a disk that takes
// persistMs per write, nothing is acknowledged before it is written. A submit is answered only
// after the arbiter's and the storing nodes' writes, and the run starts only once the storing
// nodes acknowledged the claim from their disks. The arbiter sends the copies ahead of its own
// write (job-submit.ts), so those writes overlap: a slow disk costs the submit one write, not two.
import { describe, expect, it } from 'vitest'
import { SimCluster, simSpec } from '../../src/sim/sim-cluster.js'

function submitOnce(persistMs: number, via: string, job: string): { replyMs: number; startMs: number } {
  const sim = new SimCluster({ seed: 1, latencyMs: 1, jitterMs: 0, persistMs })
  for (let i = 1; i <= 5; i++) sim.start(`n${i}`)
  sim.runUntilTrue(() => sim.ids().every((o) => sim.core(o).records().filter((r) => r.state === 'alive').length === 5), 5_000)
  const t0 = sim.now
  const req = sim.submit(via, job, simSpec({ env: { SIM_DURATION_MS: '50' } }), false)
  const replyMs = sim.runUntilTrue(() => sim.replies.get(req) !== undefined, 10_000)
  expect(sim.replies.get(req)?.status).toBe(201)
  sim.runUntilTrue(() => sim.runs.some((r) => r.jobId === job), 10_000)
  return { replyMs, startMs: (sim.runs.find((r) => r.jobId === job)?.startedAt as number) - t0 }
}

describe('the persist barrier in the simulator', () => {
  for (const via of ['n1', 'n2']) {
    it(`a slow disk delays the submit's answer and the run's start by one write, the arbiter's and the copies' overlapping (via ${via})`, () => {
      const fast = submitOnce(0, via, 'j1')
      const slow = submitOnce(200, via, 'j1')
      expect(slow.replyMs - fast.replyMs).toBeGreaterThanOrEqual(200)
      expect(slow.replyMs - fast.replyMs).toBeLessThan(250)
      expect(slow.startMs - fast.startMs).toBeGreaterThanOrEqual(200)
      expect(slow.startMs - fast.startMs).toBeLessThan(250)
    })
  }
})
