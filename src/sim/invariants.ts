// The promises a run must keep (CONTRACT section 4), checked over what the simulator recorded:
// - no overcommit: at no moment does a node run more cpu or memory than it declared;
// - no duplicate runs: two runs of one instance never overlap, except when one of the two nodes
//   was cut off or frozen shortly before (its view could not agree), and even then the duplicate
//   is stopped soon after the fault ends ("a duplicate is found and stopped");
// - no lost acknowledged job (checked by the runner, which knows what was acknowledged).
import type { Millis, NodeId, Resources } from '../core/types.js'

/** One simulated process run. */
export interface SimRun {
  allocId: string
  jobId: string
  index: number
  node: NodeId
  startedAt: Millis
  endedAt: Millis | null
  resources: Resources
  exitCode: number | null
}

/** A time when a node could not agree with others: frozen, or on one side of a partition or cut. */
export interface Impairment {
  node: NodeId
  kind: 'freeze' | 'partition' | 'cut'
  from: Millis
  /** Infinity while it lasts. */
  to: Millis
}

export interface DuplicateCheck {
  /** A duplicate arose from an impairment this recent before it (detection plus rescheduling). */
  excuseWindowMs: number
  /** ... and must be stopped within this long after the impairment ended. */
  fenceBoundMs: number
}

export const DEFAULT_DUPLICATE_CHECK: DuplicateCheck = { excuseWindowMs: 30_000, fenceBoundMs: 15_000 }

export interface DuplicateReport {
  /** Overlaps no fault explains, or that outlived the fence bound: broken promises. */
  violations: string[]
  /** Overlaps a fault explains, stopped in time: the protocol did its job. */
  fenced: string[]
}

export function checkDuplicates(runs: readonly SimRun[], impairments: readonly Impairment[], end: Millis, check = DEFAULT_DUPLICATE_CHECK): DuplicateReport {
  const byInstance = new Map<string, SimRun[]>()
  for (const r of runs) {
    const k = `${r.jobId}/${r.index}`
    const list = byInstance.get(k)
    if (list === undefined) byInstance.set(k, [r])
    else list.push(r)
  }
  const byNode = new Map<NodeId, Impairment[]>()
  for (const i of impairments) {
    const list = byNode.get(i.node)
    if (list === undefined) byNode.set(i.node, [i])
    else list.push(i)
  }
  const out: DuplicateReport = { violations: [], fenced: [] }
  for (const [k, rs] of byInstance) {
    if (rs.length < 2) continue
    for (let i = 0; i < rs.length; i++) {
      for (let j = i + 1; j < rs.length; j++) {
        const a = rs[i] as SimRun
        const b = rs[j] as SimRun
        const t0 = Math.max(a.startedAt, b.startedAt)
        const t1 = Math.min(a.endedAt ?? end, b.endedAt ?? end)
        if (t0 >= t1) continue
        const what = `${k} on ${a.node} and ${b.node} from ${t0} to ${a.endedAt === null || b.endedAt === null ? 'the end' : t1}`
        const excuse = [...(byNode.get(a.node) ?? []), ...(byNode.get(b.node) ?? [])]
          .find((imp) => imp.from <= t0 && imp.to >= t0 - check.excuseWindowMs && t1 <= imp.to + check.fenceBoundMs)
        if (excuse === undefined) out.violations.push(what)
        else out.fenced.push(`${what} (${excuse.kind} of ${excuse.node})`)
      }
    }
  }
  return out
}

/** Sweep over each node's starts and ends: the first moment it ran more than it declared. */
export function checkOvercommit(runs: readonly SimRun[], totals: ReadonlyMap<NodeId, Resources>, end: Millis): string[] {
  const byNode = new Map<NodeId, SimRun[]>()
  for (const r of runs) {
    const list = byNode.get(r.node)
    if (list === undefined) byNode.set(r.node, [r])
    else list.push(r)
  }
  const out: string[] = []
  for (const [node, rs] of byNode) {
    const total = totals.get(node)
    if (total === undefined) continue
    // Ends sort before starts at the same instant: a slot freed at t may be reused at t.
    const points: Array<{ at: Millis; d: number; r: SimRun }> = []
    for (const r of rs) {
      points.push({ at: r.startedAt, d: 1, r })
      points.push({ at: r.endedAt ?? end, d: -1, r })
    }
    points.sort((x, y) => x.at - y.at || x.d - y.d)
    let cpu = 0
    let mem = 0
    for (const p of points) {
      cpu += p.d * p.r.resources.cpu
      mem += p.d * p.r.resources.memoryMb
      if (p.d > 0 && (cpu > total.cpu + 1e-9 || mem > total.memoryMb + 1e-9)) {
        out.push(`${node} at ${p.at}: ${round(cpu)} cpu ${round(mem)} MB of ${total.cpu} cpu ${total.memoryMb} MB`)
        break
      }
    }
  }
  return out
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000
}
