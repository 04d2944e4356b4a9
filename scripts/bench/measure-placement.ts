// placementDecisionsPerSec: the pure placement pipeline (src/placement rankNodes), in this
// process, ranking 100 node views for one allocation per decision, as an arbiter does for each
// instance attempt: a batch job, packed among 8 sampled nodes, one constraint. The views are
// varied (free capacity, labels, a few dead and draining nodes) so every filter runs.
// The rate is per second of this process's CPU time (user + system, process.cpuUsage), not of
// wall time: the pipeline is pure and single-threaded, so that is its speed on one core whatever
// else the shared machine runs meanwhile. The wall-clock rate is in the details.
import { rankNodes, type NodeView, type PlacementJob } from '../../src/placement/index.js'
import type { Measurement } from './types.js'

/** The arbiter's sample for batch jobs (power of k choices). */
const SAMPLE = 8
const NODES = 100

/** 100 node views: mostly alive with varied free capacity, a few dead, draining, or full. */
export function nodeViews(n = NODES): NodeView[] {
  return Array.from({ length: n }, (_, i) => {
    const total = { cpu: 4 + (i % 4) * 4, memoryMb: 8192 * (1 + (i % 3)) }
    const used = (i * 37) % 100 / 100
    return {
      id: `12D3KooWnode${String(i).padStart(4, '0')}`,
      name: `n${i}`,
      state: i % 29 === 0 ? 'dead' : 'alive',
      draining: i % 31 === 0,
      total,
      free: { cpu: Math.round(total.cpu * (1 - used) * 10) / 10, memoryMb: Math.round(total.memoryMb * (1 - used)) },
      labels: { zone: ['a', 'b', 'c'][i % 3] as string, disk: i % 5 === 0 ? 'hdd' : 'ssd' },
    }
  })
}

export const JOB: PlacementJob = { id: 'j-bench', resources: { cpu: 0.5, memoryMb: 256 }, constraints: [{ label: 'disk', op: '=', value: 'ssd' }] }

/**
 * Decisions per CPU second and per wall second over `ms` of wall time; also how many had a
 * candidate (a sanity check).
 */
export function rankFor(ms: number, nodes: readonly NodeView[] = nodeViews()): { perSec: number; perWallSec: number; decisions: number; placed: number } {
  let decisions = 0
  let placed = 0
  const cpu0 = process.cpuUsage()
  const start = performance.now()
  let elapsed = 0
  // Check the clock every 100 decisions: reading it costs about as much as a small decision.
  while (elapsed < ms) {
    for (let k = 0; k < 100; k++) {
      const r = rankNodes(JOB, `j-${decisions}/0/1`, nodes, { sample: SAMPLE })
      if (r.candidates.length > 0) placed++
      decisions++
    }
    elapsed = performance.now() - start
  }
  const cpu = process.cpuUsage(cpu0)
  return { perSec: decisions / ((cpu.user + cpu.system) / 1e6), perWallSec: decisions / (elapsed / 1000), decisions, placed }
}

export const placement: Measurement = {
  name: 'placement',
  runs: (o) => o.runs,
  async run(ctx) {
    const nodes = nodeViews()
    rankFor(Math.min(200, ctx.options.placementMs), nodes) // warm-up: let the JIT compile the pipeline first
    const r = rankFor(ctx.options.placementMs, nodes)
    if (r.placed !== r.decisions) throw new Error(`placement found no candidate in ${r.decisions - r.placed} of ${r.decisions} decisions`)
    return { figures: { placementDecisionsPerSec: r.perSec }, details: { decisions: r.decisions, nodes: nodes.length, perWallSec: r.perWallSec } }
  },
}
