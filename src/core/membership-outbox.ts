// What the membership machine publishes on the cluster topic, and when: its own claims (its record,
// deaths it declared, refutations) at the end of the event that made them, and the members it
// relays when their relay is due, batched.
//
// Relaying: the seed gossips joins, as memberlist's push-pull merge broadcasts a node it learns
// (aliveNode). A new member's own announcement mostly reaches nobody: it publishes on its first
// tick, before its --join dial is up or its seed's subscription is known, and gossip has no
// retry. What spread it was push-pull alone, which a node does with a member it is connected to,
// every syncIntervalMs: with 50 agents joining one seed at once on one machine, the last of them
// saw all 50 alive after ~60 s. A joiner's first push-pull goes to its seed, with the digest of a
// table that holds nobody but itself; the seed is the one member every joiner is connected to,
// so its flood publish reaches all of them at once. So a node asked for a push-pull by a node
// that knows nobody relays it: a join costs about one more gossip message, an idle cluster none.
//
// A relay waits a random part of `spreadMs` (one probe interval), shorter the more peers this
// node is connected to (its publish reaches those directly): the joins a busy seed takes in
// meanwhile go out as one message, and a node a joiner also asked (its other early connections)
// usually hears the seed's relay before its own is due, and drops its own.
import type { Effect, Millis, NodeId, NodeRecord } from './types.js'
import { newestPerNode } from './records.js'
import { Rng, seedFromString } from './rng.js'
import { holdsOnly } from './table-digest.js'

/**
 * Most records in one relay message: ~400 B each, so one message stays near 25 KB, well under the
 * gossip cap (MAX_GOSSIP_BYTES, 64 KiB); the rest go on the next tick.
 */
export const MAX_RELAY_BATCH = 64

/**
 * A node connected to this many peers or fewer waits up to the whole spread before relaying; one
 * connected to k times as many waits up to 1/k of it (a seed connected to 50 joiners: 80 ms).
 */
const RELAY_PEERS = 8

/** A relay whose member is not in the table yet (its push of its records is still coming) waits this many spreads at most. */
const RELAY_WAIT_SPREADS = 20

interface Relay {
  due: Millis
  /** Past this, a member still unknown is dropped. */
  until: Millis
}

export class MembershipOutbox {
  private claims: NodeRecord[] = []
  /** Members to relay (ids: the record sent is the newest held when it is due). */
  private readonly relays = new Map<NodeId, Relay>()

  /** Its own draws (seeded by the node's id), so that relays do not move every other draw of the node. */
  private readonly rng: Rng

  constructor(selfId: NodeId, private readonly spreadMs: number) {
    this.rng = new Rng(seedFromString(`relay:${selfId}`))
  }

  /** A record to publish at the end of this event. */
  push(r: NodeRecord): void {
    this.claims.push(r)
  }

  get hasClaims(): boolean {
    return this.claims.length > 0
  }

  /**
   * `peer` asked us for a push-pull with the digest of its table. One that knows nobody but itself
   * is joining through us: the rest hear of it from us, if we are connected to any (a joiner asked
   * by its seed, connected to it alone, is not). `connected`: peers we hold connections to.
   */
  asked(peer: NodeId, digest: readonly string[], now: Millis, connected: number): void {
    if (connected > 1 && holdsOnly(digest, peer)) this.relay(peer, now, connected)
  }

  /** `id` joins through us: relay it (see the top of this file). */
  relay(id: NodeId, now: Millis, connected: number): void {
    if (this.relays.has(id)) return
    const spread = Math.max(1, Math.round(this.spreadMs * Math.min(1, RELAY_PEERS / Math.max(1, connected))))
    this.relays.set(id, { due: now + this.rng.int(spread), until: now + RELAY_WAIT_SPREADS * this.spreadMs })
  }

  /** Someone else's gossip carried `id` alive: it was relayed already; ours would be a duplicate for every node. */
  relayedBy(id: NodeId): void {
    this.relays.delete(id)
  }

  /** When the next relay is due (Infinity: none). */
  relayDue(): Millis {
    let at = Infinity
    for (const r of this.relays.values()) at = Math.min(at, r.due)
    return at
  }

  /**
   * On a tick: the relays due go out with this event's claims, at most MAX_RELAY_BATCH; `held` is
   * the record held now (undefined: not yet). Returns how many went out.
   */
  takeRelays(now: Millis, held: (id: NodeId) => NodeRecord | undefined): number {
    let n = 0
    for (const [id, relay] of this.relays) {
      if (n >= MAX_RELAY_BATCH) break
      if (relay.due > now) continue
      const r = held(id)
      if (r === undefined) {
        // Its records come in its push after our answer: look again on the next tick.
        if (now < relay.until) relay.due = now + 1
        else this.relays.delete(id)
        continue
      }
      this.relays.delete(id)
      // Only news of a live member: one gone meanwhile has been told by whoever saw it go.
      if (r.state !== 'alive') continue
      this.claims.push(r)
      n++
    }
    return n
  }

  /** End of an event: one gossip message with everything pushed (the newest record per node). */
  flush(out: Effect[]): void {
    if (this.claims.length === 0) return
    const records = newestPerNode(this.claims)
    this.claims = []
    out.push({ kind: 'publish', msg: { type: 'records', records } })
  }
}
