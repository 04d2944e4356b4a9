// The cluster a scenario runs on, booted: the workload (scenario.ts) and the packing measurement
// (packing.ts) each boot their own copy from the same options and seed, so the two can run on two
// threads and still print the same report as one after the other.
import { PROFILES, type ProfileName } from '../core/config.js'
import { JOBS_DEFAULTS } from '../core/jobs-config.js'
import { Rng } from '../core/rng.js'
import type { NodeId } from '../core/types.js'
import type { ScenarioOptions } from './scenario.js'
import { SimCluster } from './sim-cluster.js'
import { nodeShapes, type NodeShape } from './workload.js'

/** Simulated time between checks of a run's progress (and of its end conditions). */
export const SLICE_MS = 100

export interface BootedCluster {
  sim: SimCluster
  shapes: NodeShape[]
  profile: ProfileName
  boot: 'warm' | 'cold'
  /** Simulated time when the boot began. */
  startedAt: number
}

/** A new cluster of `o.nodes` booted warm (as if it had been running) or cold (every node joins), plus 2 s. */
export function bootCluster(o: ScenarioOptions, onBootProgress: () => void = () => {}): BootedCluster {
  const profile = o.profile ?? 'lan'
  const config = PROFILES[profile]
  const boot = o.boot ?? 'warm'
  const sim = new SimCluster({
    seed: o.seed, config, recordEvents: false, recordReplies: false,
    ...(o.links === undefined ? {} : { links: o.links }),
    ...(o.gossipsub === undefined ? {} : { gossipsub: o.gossipsub }),
    ...(o.maxConnections === undefined ? {} : { maxConnections: o.maxConnections }),
    cells: o.cells ?? 1,
    ...(o.persistMs === undefined ? {} : { persistMs: o.persistMs }),
    ...(o.gossipMaxNodes === undefined ? {} : { jobsConfig: { ...JOBS_DEFAULTS, gossipMaxNodes: o.gossipMaxNodes } }),
    ...(o.freezeMessages === undefined ? {} : { freezeMessages: o.freezeMessages }),
    ...(o.checkMessages === undefined ? {} : { checkMessages: o.checkMessages }),
  })
  const shapes = nodeShapes(o.nodes, o.seed)
  const startedAt = sim.now
  if (boot === 'warm') {
    sim.bootWarm(shapes, config.syncIntervalMs)
  } else {
    for (const s of shapes) {
      sim.start(s.id, s.name, s.total)
      sim.run(20)
    }
    const deadline = sim.now + 120_000
    while (!shapes.every((s) => sim.core(s.id).records().filter((r) => r.state === 'alive').length === o.nodes)) {
      if (sim.now > deadline) throw new Error(`the cold cluster of ${o.nodes} did not converge within 120 s of simulated time`)
      sim.run(SLICE_MS)
      onBootProgress()
    }
  }
  sim.run(2_000)
  return { sim, shapes, profile, boot, startedAt }
}

/**
 * A uniform pick among the nodes that are up: draw until one is (an O(N) list per submit was the
 * 10,000-node run's largest cost); the full list only when draws keep missing.
 */
export function pickUpNode(sim: SimCluster, rng: Rng): NodeId | undefined {
  for (let i = 0; i < 16; i++) {
    const id = sim.idAt(rng.int(sim.nodeCount()))
    if (sim.runState(id) === 'up') return id
  }
  const up = sim.upIds()
  return up.length === 0 ? undefined : up[rng.int(up.length)]
}

export function round(x: number, digits = 0): number {
  if (!Number.isFinite(x)) return x
  const f = Math.pow(10, digits)
  return Math.round(x * f) / f
}
