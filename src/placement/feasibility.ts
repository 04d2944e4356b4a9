// Feasibility: hard filters, each a small pure check that either passes or says why not (Nomad's
// FilterNode(node, reason)). The order is the order a human would ask "why not that node?":
// liveness first, then operator intent (drain, constraints), then capacity, then the caller's
// exclusions. Only the first failing check is recorded, so each node gets exactly one reason.
import { describeFailure, satisfies } from './constraints.js'
import { formatCpu, formatMb } from './format.js'
import type { NodeId, NodeView, PlacementJob, Rejection, Resources } from './types.js'

/**
 * Slack for float arithmetic on resources: 0.1 + 0.2 cpu must fit in 0.3 free. Small enough to
 * never admit a real overcommit (cpu is declared in tenths, memory in whole megabytes).
 */
export const RESOURCE_EPSILON = 1e-9

/**
 * Whether `need` fits in `free`, exactly up to {@link RESOURCE_EPSILON}. A node calls this on its
 * OWN true free capacity before bidding; the pipeline uses it on gossiped views. NaN never fits.
 */
export function admits(free: Resources, need: Resources): boolean {
  return fitsCpu(free, need) && fitsMemory(free, need)
}

function fitsCpu(free: Resources, need: Resources): boolean {
  return free.cpu + RESOURCE_EPSILON >= need.cpu
}

function fitsMemory(free: Resources, need: Resources): boolean {
  return free.memoryMb + RESOURCE_EPSILON >= need.memoryMb
}

/** The rejection detail for excluded nodes unless the caller gives another. */
export const DEFAULT_EXCLUDE_DETAIL = 'already holds an instance of this job'

/** Everything a check may look at for one node. */
export interface FeasibilityContext {
  job: PlacementJob
  node: NodeView
  exclude: ReadonlySet<NodeId>
  excludeDetail: string
}

/** A rejection without the node's identity, which the pipeline adds. */
export type Verdict = Omit<Rejection, 'nodeId' | 'name'>

/** A filter step: undefined when the node passes. */
export type FeasibilityCheck = (ctx: FeasibilityContext) => Verdict | undefined

export const checkAlive: FeasibilityCheck = ({ node }) =>
  node.state === 'alive' ? undefined : { reason: 'not-alive', detail: `node is ${node.state}`, state: node.state }

export const checkNotDraining: FeasibilityCheck = ({ node }) =>
  node.draining ? { reason: 'draining', detail: 'node is draining' } : undefined

export const checkConstraints: FeasibilityCheck = ({ job, node }) => {
  const failed = job.constraints.find((c) => !satisfies(c, node.labels))
  return failed === undefined
    ? undefined
    : { reason: 'constraint', detail: describeFailure(failed, node.labels), constraint: failed }
}

export const checkCpu: FeasibilityCheck = ({ job, node }) =>
  fitsCpu(node.free, job.resources)
    ? undefined
    : {
        reason: 'cpu',
        detail: `needs ${formatCpu(job.resources.cpu)} cpu, has ${formatCpu(node.free.cpu)} free`,
        free: { ...node.free },
      }

export const checkMemory: FeasibilityCheck = ({ job, node }) =>
  fitsMemory(node.free, job.resources)
    ? undefined
    : {
        reason: 'memory',
        detail: `needs ${formatMb(job.resources.memoryMb)} MB, has ${formatMb(node.free.memoryMb)} MB free`,
        free: { ...node.free },
      }

export const checkNotExcluded: FeasibilityCheck = ({ node, exclude, excludeDetail }) =>
  exclude.has(node.id) ? { reason: 'excluded', detail: excludeDetail } : undefined

/** The filter pipeline, in order. */
export const FEASIBILITY_CHECKS: readonly FeasibilityCheck[] = [
  checkAlive,
  checkNotDraining,
  checkConstraints,
  checkCpu,
  checkMemory,
  checkNotExcluded,
]

/** Runs the filters on one node: the first failing check's rejection, or undefined if the node is feasible. */
export function checkFeasibility(ctx: FeasibilityContext): Rejection | undefined {
  for (const check of FEASIBILITY_CHECKS) {
    const verdict = check(ctx)
    if (verdict !== undefined) return { nodeId: ctx.node.id, name: ctx.node.name, ...verdict }
  }
  return undefined
}
