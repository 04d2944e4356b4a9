// What the API remembers of the agent's event stream: each event stamped with the time this node
// saw it, the last few hundred of them (a page opened late, or one that switched nodes, fills its
// feed from them), and each node's last state changes (so a dead node can say when and why it
// died to a client that was not watching at the time). The core keeps none of this: it is a view
// for people, and it lives as long as the API server.
import type { AgentView } from './agent-view.js'
import type { ClusterEvent } from '../core/types.js'

/** A cluster event as the API sends it: the core's fields, plus when this node saw it. */
export type StampedEvent = ClusterEvent & {
  /** ISO 8601 time at which this node emitted or learned of the change (its own clock). */
  at: string
}

/** One change of a node's member state, as this node saw it. */
export interface NodeStateChange {
  at: string
  from: string
  to: string
  /** The core's words for it, e.g. `claimed by n2` (the node that declared it), `joined`, `leaving`. */
  reason: string
}

/** How many events `recent()` keeps: a couple of minutes of a busy cluster, well under 100 KB. */
export const RECENT_EVENTS = 300
/** State changes kept per node: enough for alive -> suspect -> dead -> alive (a restart) and one more. */
export const NODE_CHANGES = 4
/**
 * Nodes whose history is kept. Dead and left members stay listed by the core, so this grows with
 * the cluster; the bound only stops a churn of throwaway identities from growing it forever.
 */
const MAX_NODES = 10_000

export class EventHistory {
  private readonly ring: StampedEvent[] = []
  private readonly nodes = new Map<string, NodeStateChange[]>()
  private readonly listeners = new Set<(event: StampedEvent) => void>()
  private readonly unsubscribe: () => void

  constructor(view: Pick<AgentView, 'subscribe'>, private readonly now: () => number = Date.now) {
    this.unsubscribe = view.subscribe((event) => this.record(event))
  }

  /** Stamped events as they happen; returns an unsubscribe function. */
  subscribe(listener: (event: StampedEvent) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  /** The last events this node saw, oldest first. */
  recent(): StampedEvent[] {
    return [...this.ring]
  }

  /** A node's last state changes, oldest first; empty when this node saw none. */
  changesOf(nodeId: string): readonly NodeStateChange[] {
    return this.nodes.get(nodeId) ?? []
  }

  close(): void {
    this.unsubscribe()
    this.listeners.clear()
  }

  private record(event: ClusterEvent): void {
    // The core's own fields win: should it ever stamp events itself, its time is the better one.
    const stamped = { at: new Date(this.now()).toISOString(), ...event } as StampedEvent
    this.ring.push(stamped)
    if (this.ring.length > RECENT_EVENTS) this.ring.shift()
    if (event.type === 'node') this.noteNode(event, stamped.at)
    for (const listener of this.listeners) {
      try { listener(stamped) } catch { /* one broken stream must not starve the others */ }
    }
  }

  private noteNode(event: Extract<ClusterEvent, { type: 'node' }>, at: string): void {
    let changes = this.nodes.get(event.node)
    if (changes === undefined) {
      if (this.nodes.size >= MAX_NODES) {
        const oldest = this.nodes.keys().next().value
        if (oldest !== undefined) this.nodes.delete(oldest)
      }
      changes = []
      this.nodes.set(event.node, changes)
    }
    changes.push({ at, from: event.from, to: event.to, reason: event.reason })
    if (changes.length > NODE_CHANGES) changes.shift()
  }
}
