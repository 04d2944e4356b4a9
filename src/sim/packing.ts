// What the cluster does without the workload, on its own copy of the booted cluster: its idle
// traffic, then placement quality: fill it with long-running jobs asking for more than its free
// cpu, and count how many arrivals are placed before the first one refused for lack of room,
// against the longest prefix an offline best-fit-decreasing packs. The copy is booted as the
// workload's is (scenario-cluster.ts), so the result depends on the options and the seed alone:
// `npm run sim` measures it on a second thread beside the workload and prints what one thread would.
import { spillBase } from '../core/cell-router.js'
import { cellOf } from '../core/cells.js'
import { Rng, seedFromString } from '../core/rng.js'
import type { NodeId } from '../core/types.js'
import { longestPackedPrefix } from '../placement/index.js'
import { checkOvercommit } from './invariants.js'
import type { Progress, ScenarioOptions } from './scenario.js'
import { Traffic } from './network.js'
import { bootCluster, measureIdle, pickUpNode, round, SLICE_MS, trafficReport, type TrafficReport } from './scenario-cluster.js'
import type { SimCluster } from './sim-cluster.js'
import { fillJobs } from './workload.js'

/**
 * The fill asks for this many times the cluster's free cpu. Best-fit-decreasing packs about 1.0x
 * (at 10,000 nodes, 95,640 of 1.25x's 119,497 jobs), so the first refusal comes near the end of
 * the arrivals; the jobs after it only wait. At 1.25x those were ~24,000 jobs each trying its 8
 * cells before waiting, half the fill's wall time at 10,000 nodes for no change in what it measures.
 */
const FILL_OVERBOOK = 1.1

export interface Packing {
  fillJobs: number
  placedBeforeFirstRejection: number
  placedTotal: number
  /** The longest prefix of the same arrivals that offline best-fit-decreasing packs entirely. */
  bestFit: number
  /** placedBeforeFirstRejection / bestFit. */
  ratio: number
  maxLoad: number
  meanLoad: number
  /** Simulated seconds of the fill (after its copy's boot). */
  seconds: number
}

/** What the fill measured, and the invariants over its copy of the cluster (plain data: it crosses threads). */
export interface PackingResult {
  placement: Packing
  /** Messages over a codec size limit in the fill's copy. */
  oversized: number
  lost: string[]
  duplicates: string[]
  duplicatesFenced: number
  overcommit: string[]
}

/** The idle window, and packing unless `o.fill` is false (plain data: it crosses threads). */
export interface ClusterMeasure {
  idle: TrafficReport
  packing: PackingResult | null
}

export function measureCluster(o: ScenarioOptions): ClusterMeasure {
  const fill = o.fill ?? true
  const idleMs = o.idleMs ?? 10_000
  if (!fill && idleMs === 0) {
    // Nothing to measure (the seed sweeps): no second cluster.
    const zero = new Traffic()
    zero.ensure(o.nodes)
    const none = zero.snapshot(o.nodes)
    return { idle: trafficReport(none, none, 0), packing: null }
  }
  const progress = (phase: Progress['phase'], fraction: number, simSeconds: number): void => o.onProgress?.({ phase, fraction, simSeconds })
  const { sim, startedAt } = bootCluster(o, () => progress('boot', 0.05, 0))
  const idleShare = fill ? 0.1 : 0.9
  progress('idle', 0.1, (sim.now - startedAt) / 1000)
  const idle = measureIdle(sim, idleMs, (f) => progress('idle', 0.1 + idleShare * f, (sim.now - startedAt) / 1000))
  return { idle, packing: fill ? measurePacking(o, sim, (f) => progress('fill', 0.2 + 0.8 * f, (sim.now - startedAt) / 1000)) : null }
}

function measurePacking(o: ScenarioOptions, sim: SimCluster, onSlice: (fraction: number) => void): PackingResult {
  const rng = new Rng(o.seed ^ seedFromString('scenario/fill'))

  const nodesUp = sim.upIds()
  const totals = sim.totals()
  const views = nodesUp.map((id) => {
    const total = totals.get(id) as { cpu: number; memoryMb: number }
    let cpu = total.cpu
    let memoryMb = total.memoryMb
    for (const r of sim.procsOn(id)) { cpu -= r.resources.cpu; memoryMb -= r.resources.memoryMb }
    return { id, name: id, state: 'alive' as const, draining: false, total, free: { cpu, memoryMb }, labels: {} }
  })
  const freeCpu = views.reduce((s, v) => s + Math.max(0, v.free.cpu), 0)
  const fill = fillJobs(freeCpu, FILL_OVERBOOK, o.seed)
  const fillIds = new Set(fill.map((f) => f.id))
  const fillRate = Math.max(10, o.nodes)
  const f0 = sim.now
  /** Fill submits without an answer yet (by request id), and the id each fill job was stored under. */
  const fillReqs = new Map<number, string>()
  const finalOf = new Map<string, string>()
  sim.hooks.onApiReply = (_at, reqId, reply) => {
    const fillId = fillReqs.get(reqId)
    if (fillId === undefined) return
    fillReqs.delete(reqId)
    if (reply.status === 201) finalOf.set(fillId, (reply.body as { id: string }).id)
  }
  // A job's arbiter is in the job's cell: look there (a node of another cell does not have it).
  const cells = o.cells ?? 1
  const inCell = new Map<number, NodeId>()
  for (const id of nodesUp) if (!inCell.has(sim.core(id).cell)) inCell.set(sim.core(id).cell, id)
  const index = new Map(fill.map((f, i) => [f.id, i]))
  const placed = new Set<string>()
  /** Submitted and not placed yet, in arrival order (placed ones are dropped as the scan passes). */
  let unplaced: Array<{ id: string; at: number }> = []
  fill.forEach((f, i) => {
    sim.at(f0 + (i * 1000) / fillRate, () => {
      const via = pickUpNode(sim, rng)
      if (via === undefined) return
      fillReqs.set(sim.submit(via, f.id, f.spec), f.id)
      unplaced.push({ id: f.id, at: sim.now })
    })
  })
  sim.hooks.onRunStart = (run) => {
    const id = spillBase(run.jobId)
    if (fillIds.has(id)) placed.add(id)
  }
  // The first capacity rejection: the earliest-arriving job its arbiter finds no room for.
  let firstRejected: number | undefined
  let lastCount = -1
  let quietSince = sim.now
  const fillEnd = f0 + (fill.length * 1000) / fillRate
  for (;;) {
    sim.run(SLICE_MS)
    onSlice(Math.min(1, (sim.now - f0) / Math.max(1, fillEnd - f0 + 3_000)))
    if (firstRejected === undefined) {
      unplaced = unplaced.filter((p) => !placed.has(p.id))
      for (const p of unplaced) {
        // Stored (under the id its cell gave it) a while ago and still not running.
        const id = finalOf.get(p.id)
        if (id === undefined || sim.now - p.at < 2 * SLICE_MS) continue
        const near = inCell.get(cellOf(id, cells))
        if (near === undefined) continue
        // The job's arbiter has its reason (only the nodes that store it do).
        const arbiter = sim.core(near).replicaSet(id).find((n) => sim.runState(n) === 'up') ?? near
        const reason = sim.core(arbiter).jobRecord(id)?.pendingReason ?? ''
        if (/lacks? (cpu|memory)/.test(reason)) firstRejected = Math.min(firstRejected ?? Infinity, index.get(p.id) as number)
      }
    }
    if (placed.size !== lastCount) { lastCount = placed.size; quietSince = sim.now }
    if (sim.now >= fillEnd && sim.now - quietSince >= 3_000) break
    if (sim.now >= fillEnd + 60_000) break
  }
  const before = firstRejected === undefined ? placed.size : fill.slice(0, firstRejected).filter((f) => placed.has(f.id)).length
  const bestFit = longestPackedPrefix(fill.map((f) => ({ id: f.id, resources: f.spec.resources, constraints: [] })), views)
  const loads = nodesUp.map((id) => {
    const total = totals.get(id) as { cpu: number }
    return sim.procsOn(id).reduce((s, r) => s + r.resources.cpu, 0) / total.cpu
  })
  // The fill is the most crowded the cluster gets: its runs are checked as the workload's are.
  const live = new Set(sim.liveIds())
  const stored = sim.storedIndex()
  const lost = [...finalOf.values()].filter((id) => (stored.get(id) ?? []).every((n) => !live.has(n))).sort()
  const dups = sim.duplicateReport()
  onSlice(1)
  return {
    placement: {
      fillJobs: fill.length,
      placedBeforeFirstRejection: before,
      placedTotal: placed.size,
      bestFit,
      ratio: round(before / Math.max(1, bestFit), 3),
      maxLoad: round(Math.max(...loads), 3),
      meanLoad: round(loads.reduce((s, x) => s + x, 0) / Math.max(1, loads.length), 3),
      seconds: round((sim.now - f0) / 1000, 1),
    },
    oversized: sim.codecErrors,
    lost,
    duplicates: dups.violations,
    duplicatesFenced: dups.fenced.length,
    overcommit: checkOvercommit(sim.runs, totals, sim.now),
  }
}
