// rankNodes: the pipeline for one allocation. feasibility -> score -> sort -> explain.
import { satisfies } from './constraints.js'
import { admits, checkFeasibility, DEFAULT_EXCLUDE_DETAIL } from './feasibility.js'
import { keyedScorer } from './hash.js'
import { pendingReason } from './pending-reason.js'
import { capacityWeight, rendezvousScore } from './score.js'
import type { Candidate, NodeView, PlacementJob, PlacementResult, RankOptions, Rejection } from './types.js'

const NO_EXCLUSIONS: ReadonlySet<string> = new Set()
const NO_PREFERENCE: readonly string[] = []

/** What packing knows of a candidate: its plain hash (the sample), its weight, its fill band. */
interface Fit {
  h: number
  weight: number
  band: number
}

/**
 * Packing tells nodes apart by how full they are in quarters of their bottleneck resource: 1 for
 * a node with at most a quarter free, 4 for one more than three quarters free. Within a band,
 * which node takes the job hardly matters for packing, so a node that already holds the job on
 * disk comes first there (it runs the job without a copy of it: fewer messages per job).
 */
const FILL_BANDS = 4

function fillBand(free: { cpu: number; memoryMb: number }, total: { cpu: number; memoryMb: number }): number {
  const cpu = total.cpu > 0 ? free.cpu / total.cpu : 1
  const mem = total.memoryMb > 0 ? free.memoryMb / total.memoryMb : 1
  return Math.max(1, Math.ceil(Math.min(cpu, mem) * FILL_BANDS - 1e-9))
}

/**
 * Ranks every node for one allocation of `job`. Each node ends up either a candidate (with a
 * capacity-weighted rendezvous score; see score.ts) or a rejection (with the first failed filter
 * and a human detail), never both. Candidates are sorted by score desc, then nodeId asc;
 * rejections by nodeId. The answer depends only on the inputs, not on the order of `nodes`, so
 * every node holding the same views computes the same ranking.
 *
 * `allocationKey` identifies the allocation (job id, instance index, attempt): a different key
 * gives an independent ranking, which is what spreads instances and moves retries elsewhere.
 */
export function rankNodes(job: PlacementJob, allocationKey: string, nodes: readonly NodeView[], opts: RankOptions = {}): PlacementResult {
  const exclude = opts.exclude ?? NO_EXCLUSIONS
  const excludeDetail = opts.excludeDetail ?? DEFAULT_EXCLUDE_DETAIL
  // Each node id's hash is memoized and combined with the key's: ranking a cell costs one
  // finalizer per node, not a hash of every id's bytes per placement.
  const hash = keyedScorer(allocationKey)
  const candidates: Candidate[] = []
  const rejected: Rejection[] = []
  const fits = new Map<string, Fit>()
  for (const node of nodes) {
    if (!passes(job, node, exclude)) {
      rejected.push(checkFeasibility({ job, node, exclude, excludeDetail }) as Rejection)
      continue
    }
    const h = hash(node.id)
    const weight = capacityWeight(node.free, job.resources)
    candidates.push({ nodeId: node.id, name: node.name, score: rendezvousScore(weight, h) })
    if (opts.sample !== undefined && opts.sample > 0) fits.set(node.id, { h, weight, band: fillBand(node.free, node.total) })
  }
  candidates.sort(compareCandidates)
  if (fits.size > 0) packSample(candidates, fits, opts.sample as number, opts.prefer ?? NO_PREFERENCE)
  else if (opts.prefer !== undefined && opts.prefer.length > 0) preferFirst(candidates, opts.prefer)
  rejected.sort(compareRejections)
  const result: PlacementResult = { candidates, rejected }
  const reason = pendingReason(job, result)
  if (reason !== undefined) result.pendingReason = reason
  return result
}

/**
 * Whether checkFeasibility finds nothing against the node, without building its context or a
 * rejection: the same checks, asked of every node of the cell for every placement and admission.
 */
function passes(job: PlacementJob, node: NodeView, exclude: ReadonlySet<string>): boolean {
  return node.state === 'alive' && !node.draining && (job.constraints.length === 0 || job.constraints.every((c) => satisfies(c, node.labels))) &&
    admits(node.free, job.resources) && !exclude.has(node.id)
}

/**
 * Best fit among k sampled nodes (power of k choices). Spreading by weight (the default) keeps
 * every node half full, so a big job late in a fill finds no node with room: measured in the
 * simulator, 88-94% of what offline best-fit-decreasing places. Packing into the tightest of a
 * few uniformly sampled nodes leaves whole nodes free for big jobs, as Nomad's binpack does,
 * while the sample keeps concurrent arbiters (different keys, different samples) from all
 * racing for the one fullest node, and bounds the work to k at any cluster size.
 *
 * The sample also holds the preferred nodes (the job's storing nodes) that are candidates. The
 * order is the fullest fill band first (see fillBand), in a band the preferred nodes first, then
 * the tightest: how many copies of this job the node could hold, fewest first (in the job's own
 * units on its bottleneck resource, so cpu and memory need no exchange rate).
 */
function packSample(candidates: Candidate[], fits: ReadonlyMap<string, Fit>, k: number, prefer: readonly string[]): void {
  const sample = topByHash(candidates, fits, k)
  for (const id of prefer) {
    const c = candidates.find((x) => x.nodeId === id)
    if (c !== undefined && !sample.includes(c)) sample.push(c)
  }
  const rank = (c: Candidate): number => { const i = prefer.indexOf(c.nodeId); return i < 0 ? prefer.length : i }
  const order = (a: Candidate, b: Candidate): number => {
    const fa = fits.get(a.nodeId) as Fit
    const fb = fits.get(b.nodeId) as Fit
    return fa.band - fb.band || rank(a) - rank(b) || fa.weight - fb.weight || compareCandidates(a, b)
  }
  sample.sort(order)
  const chosen = new Set(sample.map((c) => c.nodeId))
  const rest = candidates.filter((c) => !chosen.has(c.nodeId))
  candidates.length = 0
  candidates.push(...sample, ...rest)
}

/**
 * The first `k` candidates by plain hash, highest first (ties by node id): what sorting them all
 * by hash and taking the first k gives, in one pass that keeps the best k (the cell has ~100
 * candidates, and this runs for every placement and admission).
 */
function topByHash(candidates: readonly Candidate[], fits: ReadonlyMap<string, Fit>, k: number): Candidate[] {
  const top: Candidate[] = []
  const hs: number[] = []
  for (const c of candidates) {
    const h = fits.get(c.nodeId)?.h ?? 0
    let i = top.length
    // Where c goes among the kept: after every one with a higher hash (or the same, and a smaller id).
    while (i > 0 && (h > (hs[i - 1] as number) || (h === hs[i - 1] && compareStrings(c.nodeId, (top[i - 1] as Candidate).nodeId) < 0))) i--
    if (i >= k) continue
    top.splice(i, 0, c)
    hs.splice(i, 0, h)
    if (top.length > k) { top.pop(); hs.pop() }
  }
  return top
}

/**
 * Without packing: the preferred nodes that are candidates, in the order given, ahead of the
 * others (whose order stays).
 */
function preferFirst(candidates: Candidate[], prefer: readonly string[]): void {
  const first: Candidate[] = []
  for (const id of prefer) {
    const c = candidates.find((x) => x.nodeId === id)
    if (c !== undefined && !first.includes(c)) first.push(c)
  }
  if (first.length === 0) return
  const rest = candidates.filter((c) => !first.includes(c))
  candidates.length = 0
  candidates.push(...first, ...rest)
}

/**
 * Score desc, then nodeId asc, then name. Plain code-unit comparison, never localeCompare: the
 * order must be identical on every machine whatever its locale.
 */
export function compareCandidates(a: Candidate, b: Candidate): number {
  if (a.score !== b.score) return a.score > b.score ? -1 : 1
  return compareStrings(a.nodeId, b.nodeId) || compareStrings(a.name, b.name)
}

/** A total order on rejections, so the output does not depend on input order. */
function compareRejections(a: Rejection, b: Rejection): number {
  return compareStrings(a.nodeId, b.nodeId) || compareStrings(a.name, b.name) || compareStrings(a.reason, b.reason) || compareStrings(a.detail, b.detail)
}

export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
