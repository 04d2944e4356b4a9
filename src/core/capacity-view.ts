// What this node believes about other nodes' free capacity, for placement and /v1/nodes. Nobody
// announces capacity on its own: it rides on what nodes send anyway. Each node's activity digest
// (activity.ts) carries its free capacity whenever it did something; every answer to a start or
// a store carries the answering node's free capacity after it. Between those, the claims this
// node made on a node are subtracted until that node's answer accounts for them, so a burst of
// placements in one step does not pile onto the node that looked emptiest.
//
// The view is advice: a node starts a run only if its own books admit it (runner.ts), and a
// refused start is placed again elsewhere. Only recent figures are ranked (TRUST_MS); where they
// have no room for an instance, the arbiter asks the nodes it has not heard from lately
// (arbiter.ts), at most once per node per ASK_AGAIN_MS whatever the number of instances waiting.
import type { Millis, NodeId, Resources } from './types.js'

interface Heard {
  free: Resources
  allocations: number
  at: Millis
}

/**
 * A node's word on its capacity is trusted for placement this long. Probes carry it (every member
 * is heard from every few probe rounds in a small cell), and so does every job message: at 5
 * nodes every figure is under ~2 s old even when idle. Older figures are not ranked: in a cell
 * that fills fast they sent every arbiter to nodes others had filled (refused starts, one after
 * another). 3 s: a few probe rounds in a small cell.
 */
export const TRUST_MS = 3_000
/** A node asked for its capacity is not asked again for this long, whatever the instances waiting. */
export const ASK_AGAIN_MS = 1_000

const NONE_CHANGED: ReadonlySet<NodeId> = new Set()

export class CapacityView {
  private readonly heard = new Map<NodeId, Heard>()
  /** Nodes asked for their capacity, and when (see stale). */
  private readonly asked = new Map<NodeId, Millis>()
  /** Claims we placed on a node that its last word did not yet count: node -> run id -> need. */
  private readonly claimed = new Map<NodeId, Map<string, Resources>>()
  private changes = 0
  /** Nodes whose figure changed since the last takeChanged(). */
  private changedNodes = new Set<NodeId>()

  /** Changes whenever any figure does (a cache key for views built from it). */
  version(): number {
    return this.changes
  }

  /** The nodes whose figure changed since the last call (views built from this one update only those). */
  takeChanged(): ReadonlySet<NodeId> {
    if (this.changedNodes.size === 0) return NONE_CHANGED
    // Handed over, not copied: every placement that follows a claim asks.
    const out = this.changedNodes
    this.changedNodes = new Set()
    return out
  }

  private touched(node: NodeId): void {
    this.changes++
    this.changedNodes.add(node)
  }

  /** A node said how much it has free (its digest, or an answer); newer word replaces older. */
  heardFrom(node: NodeId, free: Resources, allocations: number | null, now: Millis): void {
    const cur = this.heard.get(node)
    if (cur !== undefined && cur.at > now) return
    if (cur !== undefined && cur.free.cpu === free.cpu && cur.free.memoryMb === free.memoryMb && (allocations === null || cur.allocations === allocations)) {
      cur.at = now
      return
    }
    this.heard.set(node, { free, allocations: allocations ?? cur?.allocations ?? 0, at: now })
    this.touched(node)
  }

  /** This node's own figures, from its own books: always current. */
  own(node: NodeId, free: Resources, allocations: number): void {
    const cur = this.heard.get(node)
    if (cur !== undefined && cur.free.cpu === free.cpu && cur.free.memoryMb === free.memoryMb && cur.allocations === allocations) return
    this.heard.set(node, { free, allocations, at: Infinity })
    this.touched(node)
  }

  /** We placed run `runId` on `node`: count it against the node until its answer does. */
  claim(node: NodeId, runId: string, need: Resources): void {
    let runs = this.claimed.get(node)
    if (runs === undefined) this.claimed.set(node, runs = new Map())
    runs.set(runId, need)
    this.touched(node)
  }

  /** The node answered for that run (its free capacity now counts it), or the run ended. */
  settle(node: NodeId, runId: string): void {
    const runs = this.claimed.get(node)
    if (runs === undefined || !runs.delete(runId)) return
    if (runs.size === 0) this.claimed.delete(node)
    this.touched(node)
  }

  /** Whether `node`'s figure is recent enough to rank it on (TRUST_MS). */
  trusted(node: NodeId, now: Millis): boolean {
    return now - (this.heard.get(node)?.at ?? -Infinity) <= TRUST_MS
  }

  /** Whether `node` may be asked now: not trusted, and not asked within ASK_AGAIN_MS. */
  askable(node: NodeId, now: Millis): boolean {
    return !this.trusted(node, now) && now - (this.asked.get(node) ?? -Infinity) > ASK_AGAIN_MS
  }

  /** We asked `node` for its capacity. */
  asking(node: NodeId, now: Millis): void {
    this.asked.set(node, now)
  }

  /** The node is gone: forget what we knew (a node that comes back says it again). */
  forget(node: NodeId): void {
    this.asked.delete(node)
    if (this.heard.delete(node)) this.touched(node)
    if (this.claimed.delete(node)) this.touched(node)
  }

  /** Free capacity of `node`: what it last said (else `announced`), less our claims since. */
  free(node: NodeId, announced: Resources): Resources {
    const base = this.heard.get(node)?.free ?? announced
    const runs = this.claimed.get(node)
    if (runs === undefined) return base
    let cpu = base.cpu
    let memoryMb = base.memoryMb
    for (const need of runs.values()) { cpu -= need.cpu; memoryMb -= need.memoryMb }
    return { cpu: Math.max(0, round(cpu)), memoryMb: Math.max(0, round(memoryMb)) }
  }

  /** Runs on `node` as it last said, or null when it never did. */
  allocations(node: NodeId): number | null {
    return this.heard.get(node)?.allocations ?? null
  }

  /** Entries kept (tests: bounded by live nodes). */
  size(): number {
    return this.heard.size + this.claimed.size
  }
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6
}
