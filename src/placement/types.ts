// The placement pipeline's vocabulary. Plain data only: views of other nodes arrive from gossip,
// and every answer is a value the caller acts on.
import type { NodeId, Resources } from '../core/types.js'

export type { NodeId, Resources }

/**
 * A label constraint from a JobSpec. For `in` and `not_in`, `value` is a comma-separated list
 * (items are trimmed, empty items ignored). A node without the label fails `=` and `in` and
 * passes `!=` and `not_in`: "not in zone a" is true of a node that has no zone at all.
 */
export interface Constraint {
  label: string
  op: '=' | '!=' | 'in' | 'not_in'
  value: string
}

/** What placement needs to know about a job: one instance's resources and where it may run. */
export interface PlacementJob {
  id: string
  resources: Resources
  constraints: Constraint[]
}

/** What one node knows about another (from gossip); possibly stale, never authoritative. */
export interface NodeView {
  id: NodeId
  name: string
  state: 'alive' | 'suspect' | 'dead' | 'left'
  draining: boolean
  total: Resources
  free: Resources
  labels: Record<string, string>
}

/** A node that could take the instance, with its rendezvous score (higher is better). */
export interface Candidate {
  nodeId: NodeId
  name: string
  score: number
}

/** Why a node was filtered out, in pipeline order: the first failing check wins. */
export type FilterReason = 'not-alive' | 'draining' | 'constraint' | 'cpu' | 'memory' | 'excluded'

/**
 * One node that cannot take the instance, and why. `detail` is for humans ("needs 512 MB, has
 * 256 MB free"); the optional fields carry the facts behind it so that summaries (pendingReason)
 * can be computed without re-parsing text.
 */
export interface Rejection {
  nodeId: NodeId
  name: string
  reason: FilterReason
  detail: string
  /** For `not-alive`: the state the node was in. */
  state?: NodeView['state']
  /** For `constraint`: the first constraint of the job that the node fails. */
  constraint?: Constraint
  /** For `cpu` and `memory`: the node's free capacity as the pipeline saw it. */
  free?: Resources
}

/**
 * The pipeline's one output. Candidates are best first (score desc, then nodeId asc); rejections
 * are sorted by nodeId. `pendingReason` is set exactly when there is no candidate.
 */
export interface PlacementResult {
  candidates: Candidate[]
  rejected: Rejection[]
  pendingReason?: string
}

/** Options for {@link rankNodes}. */
export interface RankOptions {
  /** Nodes that must not take this instance (e.g. they already hold another instance of the job). */
  exclude?: ReadonlySet<NodeId>
  /** The rejection detail for excluded nodes; defaults to "already holds an instance of this job". */
  excludeDetail?: string
  /**
   * Bin packing by the power of k choices: the `sample` feasible nodes with the highest plain
   * rendezvous hash of the key (a uniform, deterministic sample) come first, tightest fit first;
   * the other candidates follow by weighted score. Unset or 0: weighted rendezvous only (spread).
   */
  sample?: number
  /**
   * Nodes to take first when they are candidates, in this order: the nodes that store the job, so
   * that running it costs no copy of it. With `sample` (packing) they join the sample and come
   * first among nodes as full as they are (see packSample in rank.ts); without, they come first.
   */
  prefer?: readonly NodeId[]
}
