// What a finished job costs a node while it is kept (its retention window): records share one
// spec object per distinct spec (src/core/spec-intern.ts), and the retention list holds each
// ended job once, however often its record is set again (src/core/retention.ts).
import { describe, expect, it } from 'vitest'
import { JOBS_DEFAULTS } from '../../src/core/jobs-config.js'
import type { JobRecord, JobSpec } from '../../src/core/job-types.js'
import { Retention } from '../../src/core/retention.js'
import { internSpec, MAX_INTERNED_SPECS } from '../../src/core/spec-intern.js'
import { SimCluster, simSpec } from '../../src/sim/sim-cluster.js'

const RETENTION_MS = 60_000

function cluster(n: number, seed: number): SimCluster {
  // Messages frozen: a record taken in from another node must not be changed in place.
  const sim = new SimCluster({ seed, latencyMs: 1, jitterMs: 1, freezeMessages: true, jobsConfig: { ...JOBS_DEFAULTS, retentionMs: RETENTION_MS } })
  for (let i = 1; i <= n; i++) sim.start(`node-${i}`, `n${i}`)
  sim.runUntilTrue(() => sim.ids().every((o) => sim.core(o).records().filter((r) => r.state === 'alive').length === n), 5_000)
  return sim
}

describe('spec interning', () => {
  it('gives the first of equal specs for every later one, and keeps different specs apart', () => {
    const a = simSpec({ env: { SIM_DURATION_MS: '17' } })
    const b = structuredClone(a)
    const c = simSpec({ env: { SIM_DURATION_MS: '18' } })
    expect(internSpec(a)).toBe(a)
    expect(internSpec(b)).toBe(a)
    expect(internSpec(c)).toBe(c)
    expect(internSpec(c)).not.toBe(a)
  })

  it('stays bounded: past the limit the table starts over, and every spec still comes back equal', () => {
    const specs: JobSpec[] = Array.from({ length: MAX_INTERNED_SPECS + 10 }, (_, i) => simSpec({ name: `bound-${i}` }))
    for (const s of specs) expect(internSpec(structuredClone(s))).toEqual(s)
    const first = specs[0] as JobSpec
    const again = internSpec(structuredClone(first))
    expect(again).toEqual(first)
    expect(internSpec(structuredClone(first))).toBe(again)
  })
})

describe('what a finished job costs', () => {
  it('jobs submitted with one spec share one spec object on every node that holds them, and read the same', () => {
    const sim = cluster(5, 11)
    const ids = Array.from({ length: 12 }, (_, i) => `same-${i}`)
    ids.forEach((id, i) => sim.submit(`node-${1 + (i % 5)}`, id, simSpec({ resources: { cpu: 0.1, memoryMb: 16 }, env: { SIM_DURATION_MS: '20' } })))
    sim.runUntilTrue(() => ids.every((id) => sim.statesOnStoring(id).every((s) => s === 'succeeded')), 10_000)
    let compared = 0
    for (const n of sim.ids()) {
      const held = ids.map((id) => sim.core(n).jobRecord(id)).filter((r) => r !== undefined)
      for (const r of held) {
        expect(r.spec).toBe(held[0]?.spec)
        expect(r.spec).toEqual(simSpec({ resources: { cpu: 0.1, memoryMb: 16 }, env: { SIM_DURATION_MS: '20' } }))
        compared++
      }
    }
    // Each job is held on its 3 storing nodes at least.
    expect(compared).toBeGreaterThanOrEqual(3 * ids.length)
    // A different spec keeps its own.
    sim.submit('node-1', 'other', simSpec({ resources: { cpu: 0.1, memoryMb: 16 }, env: { SIM_DURATION_MS: '21' } }))
    sim.runUntilTrue(() => sim.statesOnStoring('other').every((s) => s === 'succeeded'), 5_000)
    const n = sim.storing('other')[0] as string
    expect(sim.core(n).jobRecord('other')?.spec.env).toEqual({ SIM_DURATION_MS: '21' })
  })

  it('the retention list holds each ended job once, though its record is set again after it ended', () => {
    const retention = new Retention(RETENTION_MS)
    const ended = (id: string, finishedAt: number): JobRecord => ({
      id, spec: simSpec(), submittedAt: 1_000, cancelled: false, pendingReason: '', reasonVersion: 0,
      allocations: { '0/1': { index: 0, attempt: 1, nodeId: 'node-1', nodeName: 'n1', state: 'succeeded', exitCode: 0, startedAt: 1_500, finishedAt } },
    })
    for (let i = 0; i < 3; i++) retention.noteSet(ended('a', 2_000))
    retention.noteSet(ended('b', 2_000))
    retention.noteSet(ended('b', 2_000))
    expect(retention.size().due).toBe(2)
    // A later end (another copy's) is a new due time: the earlier one finds the job not due yet.
    retention.noteSet(ended('a', 3_000))
    expect(retention.size().due).toBe(3)
    const current = new Map([['a', ended('a', 3_000)], ['b', ended('b', 2_000)]])
    expect(retention.takeDue(2_000 + RETENTION_MS, (id) => current.get(id))).toEqual(['b'])
    expect(retention.wakeAt()).toBe(3_000 + RETENTION_MS)
    expect(retention.takeDue(3_000 + RETENTION_MS, (id) => current.get(id))).toEqual(['a'])
    expect(retention.size().due).toBe(0)
  })
})

describe('what a waiting job costs', () => {
  it('jobs queued for room keep no set of known runs of their own; running ones do, and none is left once all ended', () => {
    const sim = cluster(1, 12)
    const node = sim.ids()[0] as string
    // 4 cpus of room at 0.5 a job: 8 run at a time, the other 32 wait.
    const ids = Array.from({ length: 40 }, (_, i) => `queued-${i}`)
    for (const id of ids) sim.submit(node, id, simSpec({ resources: { cpu: 0.5, memoryMb: 16 }, env: { SIM_DURATION_MS: '200' } }))
    sim.runUntilTrue(() => ids.every((id) => sim.core(node).jobRecord(id) !== undefined) && sim.runs.some((r) => r.jobId.startsWith('queued-')), 5_000)
    const waiting = ids.filter((id) => sim.statesOnStoring(id)[0] === 'pending').length
    const running = ids.filter((id) => sim.statesOnStoring(id)[0] === 'running').length
    expect(waiting).toBeGreaterThan(20)
    expect(running).toBeGreaterThan(0)
    expect(sim.core(node).footprint().knownRunSets).toBeLessThanOrEqual(running)
    sim.runUntilTrue(() => ids.every((id) => sim.statesOnStoring(id)[0] === 'succeeded'), 60_000)
    expect(sim.core(node).footprint().knownRunSets).toBe(0)
  })
})
