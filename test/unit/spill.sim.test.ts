// Spill (src/core/cell-router.ts, src/core/admission.ts): a submit without an idempotency key
// whose id's cell has no room for it is admitted by another cell under another id; when no cell
// tried has room it is stored under its own id and waits there. A refused admission stores nothing.
import { describe, expect, it } from 'vitest'
import { DEFAULT_SPILL_CELLS, spillBase, spillId } from '../../src/core/cell-router.js'
import { cellOf } from '../../src/core/cells.js'
import type { JobSpec, JobStatus } from '../../src/core/job-types.js'
import { SimCluster, simSpec } from '../../src/sim/sim-cluster.js'

const CELLS = 3
const FOREVER = { SIM_DURATION_MS: '3600000' }

/** 18 nodes of 4 cpu in 3 cells. */
function cluster(seed: number, labels: (i: number) => Record<string, string> = () => ({})): SimCluster {
  const sim = new SimCluster({ seed, latencyMs: 1, jitterMs: 1, cells: CELLS })
  sim.bootWarm(Array.from({ length: 18 }, (_, i) => ({ id: `node-${i + 1}`, name: `n${i + 1}`, total: { cpu: 4, memoryMb: 8192 }, labels: labels(i + 1) })), 1_000)
  sim.run(2_000)
  return sim
}

function api(sim: SimCluster, via: string, req: Parameters<SimCluster['api']>[1]): { status: number; body: unknown } {
  const r = sim.api(via, req)
  sim.runUntilTrue(() => sim.replies.has(r), 15_000)
  return sim.replies.get(r) as { status: number; body: unknown }
}

function submit(sim: SimCluster, via: string, id: string, spec: JobSpec, movable: boolean): { status: number; body: unknown } {
  const r = sim.submit(via, id, spec, movable)
  sim.runUntilTrue(() => sim.replies.has(r), 15_000)
  return sim.replies.get(r) as { status: number; body: unknown }
}

const running = (sim: SimCluster, job: string): string[] => sim.runs.filter((r) => r.jobId === job && r.endedAt === null).map((r) => r.node)
/** A job id of `cell`, from a prefix. */
const idIn = (cell: number, prefix: string): string => {
  for (let i = 0; i < 10_000; i++) if (cellOf(`${prefix}-${i}`, CELLS) === cell) return `${prefix}-${i}`
  throw new Error('no id')
}

/** Every node of `cell` runs a job that takes `cpu` of its 4 (jobs that may not move). */
function fillCell(sim: SimCluster, cell: number, cpu = 4): void {
  const nodes = sim.ids().filter((n) => cellOf(n, CELLS) === cell)
  const ids = nodes.map((_, i) => idIn(cell, `full-${cell}-${i}`))
  for (const id of ids) expect(submit(sim, 'node-1', id, simSpec({ type: 'service', resources: { cpu, memoryMb: 1024 }, env: FOREVER }), false).status).toBe(201)
  sim.runUntilTrue(() => ids.every((id) => running(sim, id).length === 1), 10_000)
  // The cell hears of it from the runners' activity digests.
  sim.run(2_000)
}

describe('spill into another cell', () => {
  it('ids: the k-th id names its base', () => {
    expect(spillId('j-1a2b', 0)).toBe('j-1a2b')
    for (const k of [1, 2, 17]) expect(spillBase(spillId('j-1a2b', k))).toBe('j-1a2b')
    expect(spillBase('job-12')).toBe('job-12')
    expect(DEFAULT_SPILL_CELLS).toBeGreaterThan(1)
  })

  for (const seed of [11, 12]) {
    it(`a full cell refuses a movable job, which runs in another cell under another id (seed ${seed})`, () => {
      const sim = cluster(seed)
      const full = 0
      fillCell(sim, full)
      const base = idIn(full, 'mover')
      const reply = submit(sim, 'node-2', base, simSpec({ type: 'service', resources: { cpu: 1, memoryMb: 256 }, env: FOREVER }), true)
      expect(reply.status).toBe(201)
      const id = (reply.body as { id: string }).id
      expect(spillBase(id)).toBe(base)
      expect(id).not.toBe(base)
      expect(cellOf(id, CELLS)).not.toBe(full)
      sim.runUntilTrue(() => running(sim, id).length === 1, 5_000)
      expect(cellOf(running(sim, id)[0] as string, CELLS)).toBe(cellOf(id, CELLS))
      // The refusal stored nothing: the base id is no job anywhere.
      expect(api(sim, 'node-3', { op: 'get', id: base }).status).toBe(404)
      expect(sim.storedIndex().has(base)).toBe(false)
      // The same job without the right to move waits in its full cell, saying why.
      const stuck = idIn(full, 'stuck')
      expect(submit(sim, 'node-2', stuck, simSpec({ type: 'service', resources: { cpu: 1, memoryMb: 256 }, env: FOREVER }), false).status).toBe(201)
      sim.run(2_000)
      const status = api(sim, 'node-5', { op: 'get', id: stuck }).body as JobStatus
      expect(status.state).toBe('pending')
      expect(status.pendingReason).toMatch(/lack/)
    })
  }

  it('a member of a full cell refuses from its own view of the cell: nothing is asked, nothing stored', () => {
    const sim = cluster(17)
    const full = 0
    fillCell(sim, full)
    const members = sim.ids().filter((n) => cellOf(n, CELLS) === full)
    const spec = simSpec({ type: 'service', resources: { cpu: 1, memoryMb: 256 }, env: FOREVER })
    let sent = 0
    sim.hooks.onSend = (_at, from, _to, msg) => { if (members.includes(from) && msg.type !== 'ping' && msg.type !== 'ping-req' && msg.type !== 'sync' && msg.type !== 'job-sync') sent++ }
    for (const n of members) expect(api(sim, n, { op: 'submit', id: idIn(full, `by-${n}`), spec, admit: 'room' }).status, n).toBe(409)
    expect(sent).toBe(0)
    expect(sim.storedIndex().size).toBe(members.length)
  })

  it('a cell that refused a job for lack of room refuses one as large at once for a second, asking nobody', () => {
    const sim = cluster(18)
    const full = 0
    fillCell(sim, full)
    const member = sim.ids().find((n) => cellOf(n, CELLS) === full) as string
    // Figures grow old (over TRUST_MS), so that an admission asks the nodes before it refuses.
    // Free capacity rides on probes, so for 3.5 s the member's direct probes of its cell mates
    // and theirs of it are lost (indirect probes through other cells still vouch for both sides).
    const mates = new Set(sim.ids().filter((n) => cellOf(n, CELLS) === full && n !== member))
    sim.hooks.dropSend = (_at, from, to, msg) => msg.type === 'ping' && ((from === member && mates.has(to)) || (to === member && mates.has(from)))
    sim.run(3_500)
    sim.hooks.dropSend = undefined
    let asks = 0
    sim.hooks.onSend = (_at, from, _to, msg) => { if (from === member && msg.type === 'capacity') asks++ }
    const spec = (cpu: number): JobSpec => simSpec({ type: 'service', resources: { cpu, memoryMb: 256 }, env: FOREVER })
    const first = api(sim, member, { op: 'submit', id: idIn(full, 'first'), spec: spec(1), admit: 'room' })
    expect(first.status).toBe(409)
    // It asked the nodes it had not heard from lately.
    expect(asks).toBeGreaterThan(0)
    asks = 0
    // As large or larger, within the second: refused on the first refusal's word.
    const again = api(sim, member, { op: 'submit', id: idIn(full, 'again'), spec: spec(2), admit: 'room' })
    expect(again.status).toBe(409)
    expect(JSON.stringify(again.body)).toMatch(/ms ago/)
    expect(asks).toBe(0)
    // A smaller job is decided afresh; so is any job once the second is over.
    const smaller = api(sim, member, { op: 'submit', id: idIn(full, 'smaller'), spec: spec(0.5), admit: 'room' })
    expect(smaller.status).toBe(409)
    expect(JSON.stringify(smaller.body)).not.toMatch(/ms ago/)
    sim.run(1_100)
    const later = api(sim, member, { op: 'submit', id: idIn(full, 'later'), spec: spec(1), admit: 'room' })
    expect(JSON.stringify(later.body)).not.toMatch(/ms ago/)
    expect(sim.storedIndex().size).toBe(sim.ids().filter((n) => cellOf(n, CELLS) === full).length)
  })

  it('a crowded cell (under 10% free) leaves a movable job to a cell with room to spare; a fixed one runs there', () => {
    const sim = cluster(16)
    const crowded = 1
    fillCell(sim, crowded, 3.75)
    const spec = simSpec({ type: 'service', resources: { cpu: 0.25, memoryMb: 64 }, env: FOREVER })
    const mover = (submit(sim, 'node-2', idIn(crowded, 'mover'), spec, true).body as { id: string }).id
    expect(cellOf(mover, CELLS)).not.toBe(crowded)
    const fixed = idIn(crowded, 'fixed')
    expect(submit(sim, 'node-2', fixed, spec, false).body).toEqual({ id: fixed })
    sim.runUntilTrue(() => running(sim, mover).length === 1 && running(sim, fixed).length === 1, 5_000)
    expect(cellOf(running(sim, fixed)[0] as string, CELLS)).toBe(crowded)
  })

  it('with no room in any cell, a movable job is stored under its own id and waits there', () => {
    const sim = cluster(13)
    for (let c = 0; c < CELLS; c++) fillCell(sim, c)
    const base = idIn(1, 'late')
    const reply = submit(sim, 'node-4', base, simSpec({ type: 'service', resources: { cpu: 1, memoryMb: 256 }, env: FOREVER }), true)
    expect(reply).toEqual({ status: 201, body: { id: base } })
    sim.run(2_000)
    const status = api(sim, 'node-9', { op: 'get', id: base }).body as JobStatus
    expect(status.state).toBe('pending')
    expect(status.pendingReason).toMatch(/lack/)
    // Nothing of the refused tries was left anywhere.
    expect([...sim.storedIndex().keys()].filter((id) => spillBase(id) === base)).toEqual([base])
  })

  it('a job only another cell\'s nodes can run (a label) goes there', () => {
    // Only nodes of cell 2 carry zone=b.
    const sim = cluster(14, (i): Record<string, string> => (cellOf(`node-${i}`, CELLS) === 2 ? { zone: 'b' } : {}))
    const base = idIn(0, 'zoned')
    const spec = simSpec({ type: 'service', constraints: [{ label: 'zone', op: '=', value: 'b' }], env: FOREVER })
    const reply = submit(sim, 'node-1', base, spec, true)
    expect(reply.status).toBe(201)
    const id = (reply.body as { id: string }).id
    sim.runUntilTrue(() => running(sim, id).length === 1, 5_000)
    expect(cellOf(running(sim, id)[0] as string, CELLS)).toBe(2)
  })

  it('every admission ends, and a burst of movable jobs runs without overbooking any node', () => {
    const sim = cluster(15)
    const ids = Array.from({ length: 30 }, (_, i) => `burst-${i}`)
    const reqs = ids.map((id, i) => sim.submit(`node-${1 + (i % 18)}`, id, simSpec({ type: 'service', resources: { cpu: 1, memoryMb: 256 }, env: FOREVER }), true))
    sim.runUntilTrue(() => reqs.every((r) => sim.replies.has(r)), 10_000)
    const placed = reqs.map((r) => (sim.replies.get(r)?.body as { id: string }).id)
    sim.runUntilTrue(() => placed.every((id) => running(sim, id).length === 1), 10_000)
    // Every node's books hold exactly its runs.
    for (const node of sim.ids()) {
      const cpu = sim.runs.filter((r) => r.node === node && r.endedAt === null).length
      expect(sim.core(node).free().cpu, node).toBe(4 - cpu)
    }
    expect(sim.violations()).toEqual({ duplicates: [], overcommit: [] })
  })
})
