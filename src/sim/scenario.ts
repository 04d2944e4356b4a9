// One simulated run from start to report: boot a cluster (warm: as if it had been running; cold:
// every node joins), run a seeded job workload under a fault plan and check the invariants; and
// on a second copy of the booted cluster, measure it idle and then measure packing with
// long-running fill jobs against an offline best-fit-decreasing (packing.ts). Pure: everything
// comes from the options and the seed, and the report is plain data (the CLI prints it, tests
// assert on it).
import type { ProfileName } from '../core/config.js'
import { spillBase } from '../core/cell-router.js'
import { Rng, seedFromString } from '../core/rng.js'
import type { NodeId } from '../core/types.js'
import { lastFaultTime, parseFaults, type Fault } from './faults.js'
import type { GossipsubParams } from './gossipsub.js'
import { percentile } from './histogram.js'
import { checkOvercommit } from './invariants.js'
import type { LinkOptions } from './network.js'
import { measureCluster, type ClusterMeasure, type Packing } from './packing.js'
import { bootCluster, pickUpNode, round, SLICE_MS, trafficReport, type TrafficReport } from './scenario-cluster.js'
import { defaultRate, workload } from './workload.js'

export interface ScenarioOptions {
  nodes: number
  jobs: number
  seed: number
  /** Fault plan (see faults.ts); times are after the workload starts. */
  faults?: string
  profile?: ProfileName
  boot?: 'warm' | 'cold'
  /** Jobs per simulated second; default keeps about half the cluster's cpu busy. */
  rate?: number
  /** Median run time of a workload job (lognormal); default 4 s. */
  jobMs?: number
  /** The idle window: traffic of the booted cluster without a workload (on the second copy, before its fill). */
  idleMs?: number
  /** How long to wait for the last jobs after the last submit and the last fault. */
  settleMs?: number
  /** Measure packing with long-running fill jobs, on the second copy of the booted cluster (packing.ts). */
  fill?: boolean
  links?: Partial<LinkOptions>
  gossipsub?: Partial<GossipsubParams>
  maxConnections?: number
  /** Cells (src/core/cells.ts); default 1. */
  cells?: number
  /**
   * Nodes with a watcher on their event stream (/v1/events), which join the event topic and hear
   * every activity digest of their cell; default one per 100 nodes (at least one).
   */
  watchers?: number
  persistMs?: number
  freezeMessages?: boolean
  /** Check every message against the wire schema (default true; `npm run sim` turns it off for speed). */
  checkMessages?: boolean
  onProgress?: (p: Progress) => void
}

export interface Progress {
  phase: 'boot' | 'idle' | 'workload' | 'fill'
  /** 0..1 over the whole run (phases weighted roughly by their cost). */
  fraction: number
  simSeconds: number
}

export type { Spread, TrafficReport } from './scenario-cluster.js'

export interface ScenarioReport {
  nodes: number
  jobs: number
  seed: number
  profile: ProfileName
  boot: 'warm' | 'cold'
  faults: string
  cells: number
  ratePerSec: number
  simulatedSeconds: number
  idle: TrafficReport
  workload: {
    seconds: number
    acked: number
    /** Submits answered with an error (e.g. 503: not enough replicas), or with no node to take them. */
    rejected: number
    /** Submits whose node died before it answered. */
    unanswered: number
    /** Acked jobs on disk on fewer than min(3, running) running nodes at the end. */
    underReplicated: number
    succeeded: number
    failed: number
    unfinished: number
    submitToStartMs: { p50: number; p99: number; max: number }
    placementsPerSec: number
    traffic: TrafficReport
  }
  gossip: {
    deliveryMs: { p50: number; p99: number }
    /** Copies received per first copy (the mesh's redundancy). */
    copiesPerDelivery: number
    recoveredByIwant: number
    /** Messages over a codec size limit (e.g. a full-table sync past MAX_RPC_BYTES): dropped or failed. */
    oversized: number
  }
  killRecovery: { affected: number; recovered: number; p50Ms: number; p99Ms: number; maxMs: number }
  /** Packing on its own copy of the booted cluster (packing.ts); null with --no-fill. */
  placement: Packing | null
  invariants: { lostAckedJobs: number; duplicateRuns: number; overcommit: number; duplicatesFenced: number }
  details: { lostAckedJobs: string[]; duplicateRuns: string[]; overcommit: string[] }
  ok: boolean
}

/** The workload's part of the report: all but the measures of the cluster without it (packing.ts). */
export type WorkloadReport = Omit<ScenarioReport, 'idle' | 'placement'>

/**
 * The whole run: the workload on one copy of the booted cluster, then the idle window and the
 * packing fill on another (packing.ts); `npm run sim` runs the two on two threads and prints the
 * same report.
 */
export function runScenario(o: ScenarioOptions): ScenarioReport {
  const onProgress = o.onProgress
  const scaled = (from: number, span: number) => onProgress === undefined ? {} : { onProgress: (p: Progress) => onProgress({ ...p, fraction: from + span * p.fraction }) }
  const workloadShare = (o.fill ?? true) ? 0.7 : 0.9
  const report = runWorkload({ ...o, ...scaled(0, workloadShare) })
  return assemble(report, measureCluster({ ...o, ...scaled(workloadShare, 1 - workloadShare) }))
}

/** The workload on its own copy of the booted cluster: everything in the report but the idle window and packing. */
export function runWorkload(o: ScenarioOptions): WorkloadReport {
  const faults: Fault[] = parseFaults(o.faults ?? '', o.nodes)
  const rng = new Rng(o.seed ^ seedFromString('scenario'))
  const progress = (phase: Progress['phase'], fraction: number): void => o.onProgress?.({ phase, fraction, simSeconds: (sim.now - startedAt) / 1000 })
  const { sim, shapes, profile, boot, startedAt } = bootCluster(o, () => o.onProgress?.({ phase: 'boot', fraction: 0.05, simSeconds: 0 }))
  const totalCpu = shapes.reduce((s, n) => s + n.total.cpu, 0)
  const rate = o.rate ?? defaultRate(totalCpu, o.jobMs)
  const jobs = workload(o.jobs, rate, o.seed, o.jobMs)
  progress('boot', 0.1)
  // Gossip figures cover the workload, not the boot (whose messages, published before the warm
  // boot's connections existed, arrive late through IWANT).
  sim.resetGossipStats()

  // --- workload under faults ----------------------------------------------------------------------
  const t0 = sim.now
  const submittedAt = new Map<string, number>()
  /** Submits without an answer yet, and the node (process generation) that must give it. */
  const reqToJob = new Map<number, { id: string; via: NodeId; gen: number }>()
  const acked = new Set<string>()
  let rejected = 0
  let unanswered = 0
  const terminal = new Map<string, string>()
  /** Acked jobs that reached a terminal state (kept as both arrive: counting them per slice was O(jobs)). */
  let done = 0
  const firstStart = new Set<string>()
  const latencies: number[] = []
  let placements = 0
  const affected = new Map<string, number>()
  const recoveries: number[] = []
  let affectedTotal = 0

  sim.hooks.onApiReply = (_at, reqId, reply) => {
    const req = reqToJob.get(reqId)
    if (req === undefined) return
    reqToJob.delete(reqId)
    if (reply.status === 201) {
      // The id it was stored under: another cell's when its own had no room (cell-router.ts).
      const id = (reply.body as { id: string }).id
      if (!acked.has(id) && terminal.has(id)) done++
      acked.add(id)
    } else rejected++
  }
  sim.hooks.onEmit = (_at, _observer, ev) => {
    if (ev.type === 'job' && (ev.state === 'succeeded' || ev.state === 'failed' || ev.state === 'cancelled')) {
      if (!terminal.has(ev.job) && acked.has(ev.job)) done++
      terminal.set(ev.job, ev.state)
    }
  }
  sim.hooks.onRunStart = (run) => {
    placements++
    const key = `${run.jobId}/${run.index}`
    const killedAt = affected.get(key)
    if (killedAt !== undefined && run.startedAt >= killedAt) {
      recoveries.push(run.startedAt - killedAt)
      affected.delete(key)
    }
    if (firstStart.has(key)) return
    firstStart.add(key)
    const sub = submittedAt.get(spillBase(run.jobId))
    if (sub !== undefined) latencies.push(run.startedAt - sub)
  }

  const idOf = (k: number): NodeId => (shapes[k - 1] as { id: NodeId }).id
  const upNodes = (): NodeId[] => sim.upIds()
  const submitVia = (): NodeId | undefined => pickUpNode(sim, rng)
  for (const j of jobs) {
    sim.at(t0 + j.at, () => {
      const via = submitVia()
      if (via === undefined) { rejected++; return }
      submittedAt.set(j.id, sim.now)
      reqToJob.set(sim.submit(via, j.id, j.spec), { id: j.id, via, gen: sim.generation(via) })
    })
  }
  const baseLoss = { gossip: sim.net.links.gossipLoss, rpc: sim.net.links.rpcLoss }
  const resolve = (f: Fault, pool: NodeId[]): NodeId[] => {
    if (f.target.kind === 'nodes') return f.target.nodes.map(idOf)
    if (f.target.kind === 'share') return rng.sample(pool, Math.max(1, Math.round((pool.length * f.target.percent) / 100)))
    let best: NodeId | undefined
    let most = -1
    for (const id of upNodes()) {
      const n = sim.procsOn(id).length
      if (n > most) { most = n; best = id }
    }
    return best === undefined ? [] : [best]
  }
  const kill = (id: NodeId): void => {
    if (sim.runState(id) === 'down') return
    for (const r of sim.procsOn(id)) {
      affected.set(`${r.jobId}/${r.index}`, sim.now)
      affectedTotal++
    }
    sim.kill(id)
  }
  for (const f of faults) {
    sim.at(t0 + f.at, () => {
      switch (f.kind) {
        case 'kill': {
          const victims = resolve(f, upNodes())
          for (const v of victims) kill(v)
          if (f.until !== undefined) sim.at(t0 + f.until, () => { for (const v of victims) if (sim.runState(v) === 'down') sim.restart(v) })
          break
        }
        case 'restart':
          for (const v of resolve(f, [])) if (sim.runState(v) === 'down') sim.restart(v)
          break
        case 'freeze': {
          const victims = resolve(f, upNodes())
          for (const v of victims) sim.freeze(v)
          sim.at(t0 + (f.until as number), () => { for (const v of victims) sim.thaw(v) })
          break
        }
        case 'partition': {
          const side = resolve(f, sim.ids())
          const pid = sim.partition(side)
          sim.at(t0 + (f.until as number), () => sim.heal(pid))
          break
        }
        case 'loss': {
          const p = f.target.kind === 'share' ? f.target.percent / 100 : 0
          sim.net.setLoss(Math.min(1, baseLoss.gossip + p), Math.min(1, baseLoss.rpc + p))
          sim.at(t0 + (f.until as number), () => sim.net.setLoss(baseLoss.gossip, baseLoss.rpc))
          break
        }
      }
    })
  }
  const lastSubmit = jobs.reduce((t, j) => Math.max(t, j.at), 0)
  const quietAfter = t0 + Math.max(lastSubmit, lastFaultTime(faults))
  const deadline = quietAfter + (o.settleMs ?? 120_000)
  const wlFrom = sim.net.traffic.snapshot(sim.nodeCount())
  for (;;) {
    sim.run(SLICE_MS)
    progress('workload', 0.1 + 0.9 * Math.min(1, 0.5 * Math.min(1, (sim.now - t0) / Math.max(1, quietAfter - t0)) + 0.5 * (done / Math.max(1, o.jobs))))
    // A submit whose node died before answering gets no answer: the client would see an error.
    for (const [reqId, req] of reqToJob) {
      if (sim.generation(req.via) !== req.gen) { reqToJob.delete(reqId); unanswered++ }
    }
    if (sim.now >= quietAfter && reqToJob.size === 0 && done === acked.size) break
    if (sim.now >= deadline) break
  }
  const wlEnd = sim.now
  const wlMs = wlEnd - t0
  const wlTraffic = trafficReport(wlFrom, sim.net.traffic.snapshot(sim.nodeCount()), wlMs)

  // --- invariants ---------------------------------------------------------------------------------
  // Lost: no running node keeps it on disk. Under-replicated: fewer than 3 running nodes do.
  const live = new Set(sim.liveIds())
  const stored = sim.storedIndex()
  const durable = (id: string): number => (stored.get(id) ?? []).filter((n) => live.has(n)).length
  const lost = [...acked].filter((id) => durable(id) === 0).sort()
  const underReplicated = [...acked].filter((id) => durable(id) > 0 && durable(id) < Math.min(3, live.size)).length
  const dups = sim.duplicateReport()
  const over = checkOvercommit(sim.runs, sim.totals(), sim.now)
  let succeeded = 0
  let failed = 0
  for (const id of acked) {
    const s = terminal.get(id)
    if (s === 'succeeded') succeeded++
    else if (s === 'failed') failed++
  }

  progress('workload', 1)

  const delivered = sim.gossip.stats.delivered
  const report: WorkloadReport = {
    nodes: o.nodes, jobs: o.jobs, seed: o.seed, profile, boot, faults: o.faults ?? '', cells: o.cells ?? 1,
    ratePerSec: round(rate, 2),
    simulatedSeconds: round((sim.now - startedAt) / 1000, 1),
    workload: {
      seconds: round(wlMs / 1000, 1),
      acked: acked.size, rejected, unanswered, underReplicated, succeeded, failed, unfinished: acked.size - succeeded - failed,
      submitToStartMs: { p50: round(percentile(latencies, 50), 1), p99: round(percentile(latencies, 99), 1), max: round(percentile(latencies, 100), 1) },
      placementsPerSec: round(placements / Math.max(0.001, wlMs / 1000), 2),
      traffic: wlTraffic,
    },
    gossip: {
      deliveryMs: { p50: round(sim.gossipDelay.percentile(50), 2), p99: round(sim.gossipDelay.percentile(99), 2) },
      copiesPerDelivery: round((delivered + sim.gossip.stats.clusterDuplicates) / Math.max(1, delivered), 2),
      recoveredByIwant: sim.gossip.stats.recoveredByGossip,
      oversized: sim.codecErrors,
    },
    killRecovery: {
      affected: affectedTotal, recovered: recoveries.length,
      p50Ms: round(percentile(recoveries, 50), 1), p99Ms: round(percentile(recoveries, 99), 1), maxMs: round(percentile(recoveries, 100), 1),
    },
    invariants: { lostAckedJobs: lost.length, duplicateRuns: dups.violations.length, overcommit: over.length, duplicatesFenced: dups.fenced.length },
    details: { lostAckedJobs: lost.slice(0, 20), duplicateRuns: dups.violations.slice(0, 20), overcommit: over.slice(0, 20) },
    ok: lost.length === 0 && dups.violations.length === 0 && over.length === 0,
  }
  return report
}

/** The report: the workload's, with the idle window, the packing measure and the second copy's invariants. */
export function assemble(r: WorkloadReport, m: ClusterMeasure): ScenarioReport {
  const { workload, gossip, killRecovery, invariants: wi, details, ...head } = r
  const p = m.packing ?? { oversized: 0, lost: [], duplicates: [], duplicatesFenced: 0, overcommit: [] }
  const invariants = {
    lostAckedJobs: wi.lostAckedJobs + p.lost.length,
    duplicateRuns: wi.duplicateRuns + p.duplicates.length,
    overcommit: wi.overcommit + p.overcommit.length,
    duplicatesFenced: wi.duplicatesFenced + p.duplicatesFenced,
  }
  return {
    ...head,
    idle: m.idle,
    workload,
    gossip: { ...gossip, oversized: gossip.oversized + p.oversized },
    killRecovery,
    placement: m.packing?.placement ?? null,
    invariants,
    details: {
      lostAckedJobs: [...details.lostAckedJobs, ...p.lost].slice(0, 20),
      duplicateRuns: [...details.duplicateRuns, ...p.duplicates].slice(0, 20),
      overcommit: [...details.overcommit, ...p.overcommit].slice(0, 20),
    },
    ok: invariants.lostAckedJobs === 0 && invariants.duplicateRuns === 0 && invariants.overcommit === 0,
  }
}
