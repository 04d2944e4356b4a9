// Retention (src/core/retention.ts): a finished job is kept for the retention window, then removed
// from memory and disk on every node, with a tombstone for as long again: reads say `collected`,
// and a resubmit of its id creates nothing. What a node keeps per job stays bounded.
import { describe, expect, it } from 'vitest'
import { JOBS_DEFAULTS } from '../../src/core/jobs-config.js'
import { SimCluster, simSpec } from '../../src/sim/sim-cluster.js'

const RETENTION_MS = 2_000

function cluster(n: number, seed = 1): SimCluster {
  const sim = new SimCluster({ seed, latencyMs: 1, jitterMs: 1, jobsConfig: { ...JOBS_DEFAULTS, retentionMs: RETENTION_MS } })
  for (let i = 1; i <= n; i++) sim.start(`node-${i}`, `n${i}`)
  sim.runUntilTrue(() => sim.ids().every((o) => sim.core(o).records().filter((r) => r.state === 'alive').length === n), 5_000)
  return sim
}

function api(sim: SimCluster, via: string, req: Parameters<SimCluster['api']>[1]): { status: number; body: unknown } {
  const r = sim.api(via, req)
  sim.runUntilTrue(() => sim.replies.has(r), 5_000)
  return sim.replies.get(r) as { status: number; body: unknown }
}

describe('retention', () => {
  it('removes a finished job everywhere after the window; reads say collected; a resubmit creates nothing', () => {
    const sim = cluster(5)
    sim.submit('node-1', 'r1', simSpec({ env: { SIM_DURATION_MS: '50' } }))
    sim.runUntilTrue(() => sim.statesOnStoring('r1').every((s) => s === 'succeeded'), 5_000)
    const endedAt = sim.now
    sim.run(RETENTION_MS / 2)
    expect(sim.storedOn('r1')).toHaveLength(3)
    sim.runUntilTrue(() => sim.storedOn('r1').length === 0 && sim.ids().every((n) => sim.core(n).jobRecord('r1') === undefined), RETENTION_MS + 1_000)
    expect(sim.now - endedAt).toBeGreaterThanOrEqual(RETENTION_MS - 200)
    for (const via of ['node-1', 'node-4']) {
      const got = api(sim, via, { op: 'get', id: 'r1' })
      expect(got.status).toBe(404)
      expect((got.body as { error: { code: string } }).error.code).toBe('collected')
    }
    // The same idempotency key (the same id) within the tombstone's window: its id, nothing new.
    const again = sim.submit('node-3', 'r1', simSpec({ env: { SIM_DURATION_MS: '50' } }))
    sim.runUntilTrue(() => sim.replies.has(again), 5_000)
    expect(sim.replies.get(again)).toEqual({ status: 201, body: { id: 'r1' } })
    sim.run(1_000)
    expect(sim.runs.filter((r) => r.jobId === 'r1')).toHaveLength(1)
    expect(sim.storedOn('r1')).toEqual([])
    // After the tombstone's window the id is free.
    sim.run(RETENTION_MS + 500)
    expect((api(sim, 'node-2', { op: 'get', id: 'r1' }).body as { error: { code: string } }).error.code).toBe('not_found')
  })

  it('a copy brought back by a node that was away is not taken in again', () => {
    const sim = cluster(5, 2)
    sim.submit('node-1', 'away', simSpec({ env: { SIM_DURATION_MS: '50' } }))
    sim.runUntilTrue(() => sim.statesOnStoring('away').every((s) => s === 'succeeded'), 5_000)
    const holder = sim.storing('away')[2] as string
    sim.freeze(holder)
    sim.runUntilTrue(() => sim.storedOn('away').every((n) => n === holder), RETENTION_MS + 2_000)
    sim.thaw(holder)
    // The thawed node collects its own copy too (same rule, same record), and the state exchange
    // does not bring it back anywhere.
    sim.run(10_000)
    expect(sim.storedOn('away')).toEqual([])
    expect(sim.ids().filter((n) => sim.core(n).jobRecord('away') !== undefined)).toEqual([])
  })

  it('keeps a running service, and collects it once cancelled and stopped', () => {
    const sim = cluster(4, 3)
    sim.submit('node-1', 'svc', simSpec({ type: 'service', env: { SIM_DURATION_MS: '3600000' } }))
    sim.runUntilTrue(() => sim.runs.some((r) => r.jobId === 'svc'), 3_000)
    sim.run(3 * RETENTION_MS)
    expect(sim.storedOn('svc')).toHaveLength(3)
    api(sim, 'node-2', { op: 'cancel', id: 'svc' })
    sim.runUntilTrue(() => sim.storedOn('svc').length === 0, RETENTION_MS + 2_000)
  })

  it('what a node keeps per job is bounded: 600 jobs later, nothing is left but tombstones, and those expire', () => {
    const sim = cluster(5, 4)
    const ids = Array.from({ length: 600 }, (_, i) => `many-${i}`)
    ids.forEach((id, i) => sim.at(sim.now + i * 5, () => { sim.submit(`node-${1 + (i % 5)}`, id, simSpec({ resources: { cpu: 0.1, memoryMb: 16 }, env: { SIM_DURATION_MS: '20' } })) }))
    sim.run(3_000 + RETENTION_MS)
    const peak = Math.max(...sim.ids().map((n) => sim.core(n).footprint().jobs ?? 0))
    expect(peak).toBeLessThan(600)
    sim.run(2 * RETENTION_MS + 1_000)
    expect(sim.runs.filter((r) => r.jobId.startsWith('many-'))).toHaveLength(600)
    for (const n of sim.ids()) {
      const f = sim.core(n).footprint()
      expect(f, n).toMatchObject({ jobs: 0, due: 0, arbiter: 0, grants: 0, submits: 0, ended: 0, runner: 0 })
    }
    sim.run(RETENTION_MS + 1_000)
    for (const n of sim.ids()) expect(sim.core(n).footprint().tombstones, n).toBe(0)
    expect([...sim.storedIndex().keys()].filter((id) => id.startsWith('many-'))).toEqual([])
  })
})
