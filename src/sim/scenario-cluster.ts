// The cluster a scenario runs on, booted: the workload (scenario.ts) and the measures of the
// cluster without it (packing.ts: the idle window, then packing) each boot their own copy from
// the same options and seed, so the two can run on two threads and still print the same report as
// one after the other.
import { PROFILES, type ProfileName } from '../core/config.js'
import { Rng } from '../core/rng.js'
import type { NodeId } from '../core/types.js'
import { percentile } from './histogram.js'
import type { TrafficSnapshot } from './network.js'
import type { ScenarioOptions } from './scenario.js'
import { SimCluster } from './sim-cluster.js'
import { nodeShapes, type NodeShape } from './workload.js'

/** Simulated time between checks of a run's progress (and of its end conditions). */
export const SLICE_MS = 100

/**
 * How long a booted cluster runs before anything is measured. The warm boot's own messages stay
 * in gossipsub's message cache for a few heartbeats, and the IHAVEs that advertise them were ~17 KB
 * per node in the first 2 s (measured at 1,000 and 10,000 nodes), which made a 10 s idle window
 * report ~1.9 KB/s of gossip control per node instead of the ~0.3 KB/s that follows.
 */
const SETTLE_AFTER_BOOT_MS = 5_000

export interface BootedCluster {
  sim: SimCluster
  shapes: NodeShape[]
  profile: ProfileName
  boot: 'warm' | 'cold'
  /** Simulated time when the boot began. */
  startedAt: number
}

/** A new cluster of `o.nodes` booted warm (as if it had been running) or cold (every node joins), then run until the boot's messages are out of the caches. */
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
    watches: (idx) => idx < (o.watchers ?? Math.max(1, Math.ceil(o.nodes / 100))),
    ...(o.persistMs === undefined ? {} : { persistMs: o.persistMs }),
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
  sim.run(SETTLE_AFTER_BOOT_MS)
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

export interface Spread {
  p50: number
  max: number
}

export interface TrafficReport {
  /** Per node per second, over the window: p50 and max over nodes. */
  bytesSent: Spread
  bytesRecv: Spread
  msgsSent: Spread
  msgsRecv: Spread
  /** Received bytes per node per second by channel (p50 over nodes). */
  recvByChannel: Record<string, number>
}

/** Run the cluster idle for `ms` and report its traffic per node per second. */
export function measureIdle(sim: SimCluster, ms: number, onSlice: (fraction: number) => void): TrafficReport {
  const from = sim.net.traffic.snapshot(sim.nodeCount())
  for (let t = 0; t < ms; t += SLICE_MS) {
    sim.run(Math.min(SLICE_MS, ms - t))
    onSlice(t / Math.max(1, ms))
  }
  return trafficReport(from, sim.net.traffic.snapshot(sim.nodeCount()), ms)
}

export function trafficReport(from: TrafficSnapshot, to: TrafficSnapshot, ms: number): TrafficReport {
  const secs = Math.max(0.001, ms / 1000)
  const rates = (a: number[], b: number[]): number[] => b.map((v, i) => (v - (a[i] ?? 0)) / secs)
  const spread = (xs: number[]): Spread => ({ p50: round(percentile(xs, 50), 1), max: round(xs.length === 0 ? NaN : Math.max(...xs), 1) })
  const recvByChannel: Record<string, number> = {}
  for (const [c, v] of Object.entries(to.channelRecv)) recvByChannel[c] = round(percentile(rates(from.channelRecv[c as keyof typeof from.channelRecv], v), 50), 1)
  return {
    bytesSent: spread(rates(from.bytesSent, to.bytesSent)),
    bytesRecv: spread(rates(from.bytesRecv, to.bytesRecv)),
    msgsSent: spread(rates(from.msgsSent, to.msgsSent)),
    msgsRecv: spread(rates(from.msgsRecv, to.msgsRecv)),
    recvByChannel,
  }
}

export function round(x: number, digits = 0): number {
  if (!Number.isFinite(x)) return x
  const f = Math.pow(10, digits)
  return Math.round(x * f) / f
}
