// Seed sweeps: one seeded fault plan and scenario per seed, small enough to run by the dozen in
// `npm test` and by the hundred in `npm run sim:sweep`, and the command that replays a seed.
import { Rng, seedFromString } from '../core/rng.js'
import { formatTime } from './faults.js'
import type { ScenarioOptions } from './scenario.js'

export interface SweepShape {
  nodes: number
  jobs: number
  /** Jobs per simulated second. */
  rate: number
  /** Median job run time. */
  jobMs: number
  settleMs: number
}

/** 20 nodes, 24 jobs over ~4 s of 1 s jobs: each seed runs in about a second. */
export const SWEEP_SHAPE: SweepShape = { nodes: 20, jobs: 24, rate: 6, jobMs: 1_000, settleMs: 60_000 }

/**
 * Two or three faults inside the submission window, drawn from the seed: kill with restart,
 * kill for good (at most one node, so an acked job always keeps a copy), freeze, partition, loss.
 */
export function sweepFaults(seed: number, nodes: number, windowMs = 4_000): string {
  const rng = new Rng(seed ^ seedFromString('sweep/faults'))
  const time = (lo: number, hi: number): number => Math.round((lo + rng.next() * (hi - lo)) / 100) * 100
  // Each fault takes a node of its own, so two windows never overlap on one node.
  const free = rng.shuffle(Array.from({ length: nodes }, (_, i) => i + 1))
  const node = (): number => free.pop() ?? 1
  const faults: string[] = []
  const count = 2 + rng.int(2)
  let permanentKill = false
  while (faults.length < count) {
    const at = time(300, windowMs)
    const u = rng.next()
    if (u < 0.3) {
      faults.push(`kill:${node()}@${formatTime(at)}-${formatTime(at + time(2_000, 8_000))}`)
    } else if (u < 0.45 && !permanentKill) {
      permanentKill = true
      faults.push(`kill:busiest@${formatTime(at)}`)
    } else if (u < 0.7) {
      faults.push(`freeze:${node()}@${formatTime(at)}-${formatTime(at + time(1_000, 6_000))}`)
    } else if (u < 0.9) {
      const share = [10, 25, 40][rng.int(3)] as number
      faults.push(`partition:${share}%@${formatTime(at)}-${formatTime(at + time(2_000, 8_000))}`)
    } else {
      faults.push(`loss:${[5, 20][rng.int(2)]}%@${formatTime(at)}-${formatTime(at + time(2_000, 5_000))}`)
    }
  }
  return faults.join(',')
}

export function sweepScenario(seed: number, shape: SweepShape = SWEEP_SHAPE): ScenarioOptions {
  return {
    nodes: shape.nodes, jobs: shape.jobs, seed, rate: shape.rate, jobMs: shape.jobMs, settleMs: shape.settleMs,
    faults: sweepFaults(seed, shape.nodes), idleMs: 0, fill: false,
  }
}

/** The `npm run sim` command that replays one sweep seed exactly. */
export function replayCommand(o: ScenarioOptions): string {
  return `npm run sim -- --nodes ${o.nodes} --jobs ${o.jobs} --seed ${o.seed}${o.rate === undefined ? '' : ` --rate ${o.rate}`}${o.jobMs === undefined ? '' : ` --job-ms ${o.jobMs}`} ` +
    `--settle ${(o.settleMs ?? 120_000) / 1000} --idle ${(o.idleMs ?? 10_000) / 1000}${o.fill === false ? ' --no-fill' : ''} --faults '${o.faults ?? ''}'` +
    `${(o.cells ?? 1) > 1 ? ` --cell-size ${Math.ceil(o.nodes / (o.cells ?? 1))}` : ''}`
}
