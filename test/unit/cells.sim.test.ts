// Cells (src/core/cells.ts): membership and jobs stay inside a cell; API requests for a job of
// another cell are forwarded to a contact there; a listing gathers every cell.
import { describe, expect, it } from 'vitest'
import { cellOf } from '../../src/core/cells.js'
import type { JobStatus } from '../../src/core/job-types.js'
import { SimCluster, simSpec } from '../../src/sim/sim-cluster.js'

const CELLS = 3

function cluster(n: number, seed = 1): SimCluster {
  const sim = new SimCluster({ seed, latencyMs: 1, jitterMs: 1, cells: CELLS })
  sim.bootWarm(Array.from({ length: n }, (_, i) => ({ id: `node-${i + 1}`, name: `n${i + 1}` })), 1_000)
  sim.run(2_000)
  return sim
}

const cellSize = (sim: SimCluster, id: string): number => sim.ids().filter((o) => cellOf(o, CELLS) === cellOf(id, CELLS)).length
const running = (sim: SimCluster, job: string): string[] => sim.runs.filter((r) => r.jobId === job && r.endedAt === null).map((r) => r.node)

function api(sim: SimCluster, via: string, req: Parameters<SimCluster['api']>[1]): { status: number; body: unknown } {
  const r = sim.api(via, req)
  sim.runUntilTrue(() => sim.replies.has(r), 15_000)
  return sim.replies.get(r) as { status: number; body: unknown }
}

describe('cells', () => {
  it('a node knows the members of its own cell only, and contacts in the others', () => {
    const sim = cluster(18)
    for (const id of sim.ids()) {
      const members = sim.core(id).records()
      expect(members.every((r) => cellOf(r.id, CELLS) === cellOf(id, CELLS)), id).toBe(true)
      expect(members.filter((r) => r.state === 'alive')).toHaveLength(cellSize(sim, id))
      expect(new Set(sim.core(id).contacts().map((c) => cellOf(c.id, CELLS))).size).toBe(CELLS - 1)
    }
  })

  it('jobs submitted anywhere run in their own cell; any node reads and lists them', () => {
    const sim = cluster(18, 2)
    const ids = Array.from({ length: 24 }, (_, i) => `j${i}`)
    for (const [i, id] of ids.entries()) {
      expect(api(sim, `node-${1 + (i % 18)}`, { op: 'submit', id, spec: simSpec({ type: 'service', env: { SIM_DURATION_MS: '3600000' } }) }).status).toBe(201)
    }
    sim.runUntilTrue(() => ids.every((id) => running(sim, id).length === 1), 10_000)
    for (const id of ids) expect(cellOf(running(sim, id)[0] as string, CELLS), id).toBe(cellOf(id, CELLS))
    for (const via of ['node-1', 'node-7', 'node-13']) {
      for (const id of ids) expect((api(sim, via, { op: 'get', id }).body as JobStatus).state, `${via} ${id}`).toBe('running')
      const list = api(sim, via, { op: 'list' }).body as { jobs: JobStatus[]; unreachableCells?: number[] }
      expect(list.unreachableCells).toBeUndefined()
      expect(list.jobs.map((j) => j.id).sort()).toEqual([...ids].sort())
    }
    // A cancel from a node of another cell reaches the job's cell and stops the run.
    const foreign = sim.ids().find((n) => cellOf(n, CELLS) !== cellOf('j0', CELLS)) as string
    expect(api(sim, foreign, { op: 'cancel', id: 'j0' }).status).toBe(202)
    sim.runUntilTrue(() => running(sim, 'j0').length === 0, 5_000)
  })

  it('a killed node\'s runs move within the cell, and nodes of other cells still read them', () => {
    const sim = cluster(18, 3)
    expect(api(sim, 'node-1', { op: 'submit', id: 'svc', spec: simSpec({ type: 'service', env: { SIM_DURATION_MS: '3600000' } }) }).status).toBe(201)
    sim.runUntilTrue(() => running(sim, 'svc').length === 1, 5_000)
    const victim = running(sim, 'svc')[0] as string
    sim.kill(victim)
    sim.runUntilTrue(() => running(sim, 'svc').length === 1, 5_000)
    expect(cellOf(running(sim, 'svc')[0] as string, CELLS)).toBe(cellOf('svc', CELLS))
    // Every node of another cell still reads it, through whichever contact answers.
    for (const via of sim.ids().filter((n) => n !== victim && cellOf(n, CELLS) !== cellOf('svc', CELLS))) {
      expect((api(sim, via, { op: 'get', id: 'svc' }).body as JobStatus).state, via).toBe('running')
    }
  })

  it('a node started later joins its cell through a node of another cell', () => {
    const sim = new SimCluster({ seed: 4, latencyMs: 1, jitterMs: 1, cells: CELLS })
    for (let i = 1; i <= 12; i++) {
      sim.start(`node-${i}`, `n${i}`)
      sim.run(300)
    }
    sim.runUntilTrue(() => sim.ids().every((id) => sim.core(id).records().filter((r) => r.state === 'alive').length === cellSize(sim, id)), 30_000)
    // Only the first node of a cell met a node of another cell; the others fill their directories
    // from members of their own cell within seconds (~8 s here; ~30 s waiting for the regular exchange).
    sim.runUntilTrue(() => sim.ids().every((id) => new Set(sim.core(id).contacts().map((c) => cellOf(c.id, CELLS))).size === CELLS - 1), 15_000)
    const id = 'late-job'
    expect(api(sim, 'node-12', { op: 'submit', id, spec: simSpec({ type: 'service', env: { SIM_DURATION_MS: '3600000' } }) }).status).toBe(201)
    for (const via of sim.ids()) expect(api(sim, via, { op: 'get', id }).status, via).toBe(200)
  })
})
