// The node's protocol core: one object per node, fed events with `now`, answering with effects.
// It composes the sub-machines (membership today; jobs join it later) and owns the seeded rng.
import type { MembershipConfig } from './config.js'
import { Membership, type MembershipStats, type SelfInfo } from './membership.js'
import { Rng, seedFromString } from './rng.js'
import type { CoreEvent, Effect, Millis, NodeRecord, NodeStatus } from './types.js'

export interface CoreInit {
  self: SelfInfo
  /** The highest incarnation persisted by an earlier run of this node (0 for a new node). */
  lastIncarnation: number
  config: MembershipConfig
  /** Mixed with the node id so that simulated nodes differ but replay identically. */
  seed: number
  now: Millis
}

export class NodeCore {
  private readonly membership: Membership

  private constructor(init: CoreInit, out: Effect[]) {
    const rng = new Rng(seedFromString(init.self.id) ^ init.seed)
    this.membership = new Membership(init.self, init.lastIncarnation, init.config, rng, init.now, out)
  }

  /** A new core and the effects of starting it (persist the new incarnation). */
  static create(init: CoreInit): { core: NodeCore; effects: Effect[] } {
    const effects: Effect[] = []
    const core = new NodeCore(init, effects)
    return { core, effects }
  }

  get id(): string {
    return this.membership.id
  }

  /** Feed one event; returns what the caller must do, in order. */
  step(event: CoreEvent, now: Millis): Effect[] {
    const out: Effect[] = []
    this.membership.handle(event, now, out)
    return out
  }

  nodes(now: Millis): NodeStatus[] {
    return this.membership.statuses(now)
  }

  records(): NodeRecord[] {
    return this.membership.records()
  }

  selfRecord(): NodeRecord {
    return this.membership.selfRecord()
  }

  get stats(): MembershipStats {
    return this.membership.stats
  }
}
