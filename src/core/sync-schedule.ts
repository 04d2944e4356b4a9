// With whom and when membership exchanges its member table (push-pull): with every peer that
// connects (not twice within syncDebounceMs), every syncIntervalMs with a member drawn by
// probe-targets.ts, and every reconnectIntervalMs with a member held dead (Serf's reconnect: how
// the halves of a healed partition find each other). What a push-pull carries and how it merges
// is membership.ts's.
import { syncTimeoutMs, type MembershipConfig } from './config.js'
import type { MemberTable } from './member-table.js'
import type { ProbeTargets } from './probe-targets.js'
import type { Rng } from './rng.js'
import type { Millis, NodeId, NodeRecord } from './types.js'

export class SyncSchedule {
  /** When we last asked each peer for a push-pull, or it asked us. */
  private readonly lastSyncWith = new Map<NodeId, Millis>()
  private nextSyncAt: Millis
  private nextReconnectAt: Millis

  constructor(
    private readonly config: MembershipConfig,
    private readonly table: MemberTable,
    private readonly targets: ProbeTargets,
    private readonly rng: Rng,
    now: Millis,
  ) {
    this.nextSyncAt = now + config.syncIntervalMs
    this.nextReconnectAt = now + config.reconnectIntervalMs
  }

  /** When a periodic push-pull or reconnect is next due. */
  due(): Millis {
    return this.config.reconnectIntervalMs > 0 ? Math.min(this.nextSyncAt, this.nextReconnectAt) : this.nextSyncAt
  }

  /** The peers to ask for a push-pull on this tick: the periodic partner, then a reconnect. `live`: live members but us. */
  onTick(now: Millis, live: readonly NodeId[]): NodeId[] {
    const peers: NodeId[] = []
    if (now >= this.nextSyncAt) {
      this.nextSyncAt = now + this.config.syncIntervalMs
      // A node that knows nobody yet (its first sync failed: a seed too busy to answer in time)
      // asks the peers it is connected to again (not one still answering its last ask).
      const partner = live.length > 0 ? this.targets.syncPartner(live) : this.targets.syncPartner(this.targets.unknownConnected((id) => this.table.has(id) || now - (this.lastSyncWith.get(id) ?? -Infinity) < syncTimeoutMs(this.config, true)))
      if (partner !== undefined) peers.push(partner)
    }
    if (this.config.reconnectIntervalMs > 0 && now >= this.nextReconnectAt) {
      this.nextReconnectAt = now + this.config.reconnectIntervalMs
      const dead = this.table.deadRecords()
      if (dead.length > 0) peers.push((dead[this.rng.int(dead.length)] as NodeRecord).id)
    }
    return peers
  }

  /** `peer` connected: whether to ask it for a push-pull (not if we synced with it just now). */
  onConnected(peer: NodeId, now: Millis): boolean {
    const last = this.lastSyncWith.get(peer)
    return last === undefined || now - last >= this.config.syncDebounceMs
  }

  /** We asked `peer` for a push-pull, or it asked us. */
  synced(peer: NodeId, now: Millis): void {
    this.lastSyncWith.set(peer, now)
  }

  /** `id` was reaped. */
  forget(id: NodeId): void {
    this.lastSyncWith.delete(id)
  }
}
