// pendingReason: one line saying why no node can take an instance, grouped by reason, most common
// first, naming the nearest miss for resource shortfalls so an operator knows what to free or add.
import { DEFAULT_EXCLUDE_DETAIL } from './feasibility.js'
import { countNodes, formatConstraint, formatCpu, formatMb, verb } from './format.js'
import type { FilterReason, PlacementJob, PlacementResult, Rejection } from './types.js'

/** Said when nothing at all is known: a fresh node that has not heard from anyone yet. */
export const NO_NODES_REASON = 'no alive nodes known'

/** Pipeline order, which breaks ties between groups of equal size. */
const REASON_ORDER: readonly FilterReason[] = ['not-alive', 'draining', 'constraint', 'cpu', 'memory', 'excluded']

/**
 * Why the job is pending, e.g. "3 nodes lack memory: need 512 MB, most free 256 MB on n2; 1 node
 * draining". Undefined when the result has a candidate (nothing is pending). With no nodes at
 * all: "no alive nodes known".
 */
export function pendingReason(job: PlacementJob, result: Pick<PlacementResult, 'candidates' | 'rejected'>): string | undefined {
  if (result.candidates.length > 0) return undefined
  if (result.rejected.length === 0) return NO_NODES_REASON
  const groups = new Map<FilterReason, Rejection[]>()
  for (const r of result.rejected) {
    const group = groups.get(r.reason)
    if (group === undefined) groups.set(r.reason, [r])
    else group.push(r)
  }
  const ordered = [...groups.entries()].sort(
    ([ra, a], [rb, b]) => b.length - a.length || REASON_ORDER.indexOf(ra) - REASON_ORDER.indexOf(rb),
  )
  return ordered.map(([reason, group]) => describeGroup(job, reason, group)).join('; ')
}

function describeGroup(job: PlacementJob, reason: FilterReason, group: Rejection[]): string {
  const n = group.length
  const nodes = countNodes(n)
  switch (reason) {
    case 'not-alive':
      return `${nodes} not alive (${tally(group.map((r) => r.state ?? 'unknown'))})`
    case 'draining':
      return `${nodes} draining`
    case 'constraint': {
      const failed = tallyEntries(group.map((r) => (r.constraint ? formatConstraint(r.constraint) : r.detail)))
      const only = failed.length === 1 ? failed[0] : undefined
      return only !== undefined
        ? `${nodes} ${verb(n, 'fails', 'fail')} constraint ${only[0]}`
        : `${nodes} fail constraints: ${failed.map(([c, k]) => `${c} (${k})`).join(', ')}`
    }
    case 'cpu': {
      const best = nearestMiss(group, (r) => r.free?.cpu)
      const where = best ? `, most free ${formatCpu(best.amount)} cpu on ${best.node}` : ''
      return `${nodes} ${verb(n, 'lacks', 'lack')} cpu: need ${formatCpu(job.resources.cpu)} cpu${where}`
    }
    case 'memory': {
      const best = nearestMiss(group, (r) => r.free?.memoryMb)
      const where = best ? `, most free ${formatMb(best.amount)} MB on ${best.node}` : ''
      return `${nodes} ${verb(n, 'lacks', 'lack')} memory: need ${formatMb(job.resources.memoryMb)} MB${where}`
    }
    case 'excluded': {
      const details = new Set(group.map((r) => r.detail))
      const only = details.size === 1 ? group[0]?.detail : undefined
      if (only === DEFAULT_EXCLUDE_DETAIL) return `${nodes} already ${verb(n, 'holds', 'hold')} an instance of this job`
      return only !== undefined ? `${nodes} excluded (${only})` : `${nodes} excluded`
    }
  }
}

/** The rejected node with the most of a resource; ties go to the smaller node id so the text is stable. */
function nearestMiss(group: Rejection[], amountOf: (r: Rejection) => number | undefined): { amount: number; node: string } | undefined {
  let best: { amount: number; r: Rejection } | undefined
  for (const r of group) {
    const amount = amountOf(r)
    if (amount === undefined || Number.isNaN(amount)) continue
    if (best === undefined || amount > best.amount || (amount === best.amount && r.nodeId < best.r.nodeId)) best = { amount, r }
  }
  return best && { amount: best.amount, node: best.r.name || best.r.nodeId }
}

/** [value, count] pairs, most frequent first, ties alphabetical. */
function tallyEntries(values: string[]): [string, number][] {
  const counts = new Map<string, number>()
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1)
  return [...counts.entries()].sort(([a, x], [b, y]) => y - x || (a < b ? -1 : a > b ? 1 : 0))
}

/** "2 dead, 1 suspect". */
function tally(values: string[]): string {
  return tallyEntries(values).map(([v, k]) => `${k} ${v}`).join(', ')
}
