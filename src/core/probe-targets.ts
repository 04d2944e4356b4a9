// Whom the failure detector talks to: the next probe target, the relays of an indirect probe and
// the partner of a periodic push-pull, chosen among the members we hold a connection to.
//
// Every request to a member we are not connected to dials it first, and a libp2p connection costs
// ~50 ms of CPU for both ends (noise, identify, gossipsub streams). SWIM's round-robin over all
// members therefore built a full mesh within N probe periods of a start: at 50 agents on one
// 2-core machine that was 1,225 handshakes in ~25 s, on top of 50 processes starting, and the
// probes that waited behind them timed out. Members we are connected to are probed, relayed
// through and synced with first; a member we are not connected to is probed at most once per
// probeDialIntervalMs (and then stays connected, as libp2p keeps the connection), so every
// member is still probed by everyone eventually and by its neighbours all the time, and the
// connections of a new cluster grow at a bounded rate instead of all at once.
import type { MembershipConfig } from './config.js'
import type { Rng } from './rng.js'
import type { Millis, NodeId } from './types.js'

/**
 * Members looked at per probe interval. Skipping every member we are not connected to (as this
 * did) started the next cycle as soon as the connected ones were done, so a node connected to k
 * of N members probed each of them N / k times as often as SWIM does: a new node is connected to
 * its --join seed alone, and 49 joiners pinged their seed ~100 times a second (1,400 pings in a
 * join of 50 agents on 2 cores, against ~150 for any other agent) while it was starving too; its
 * acks came late, it was suspected and refuted 50-60 times, and some declared it dead. With two
 * visits a connected member is probed at most twice as often as SWIM's one probe per member
 * per interval, whatever the mesh; in a full mesh nothing changes. A node with few connections
 * probes less until its mesh grows (one dial per probeDialIntervalMs), and is probed by its
 * neighbours meanwhile. One visit (SWIM exactly) slowed the simulator's detection of a frozen
 * node in a young 50-node mesh past 4 s (test/unit/join-storm.sim.test.ts).
 */
const VISITS_PER_PROBE = 2

export class ProbeTargets {
  /** Peers with an open connection (the runtime's peer-connected / peer-disconnected). */
  private readonly connected = new Set<NodeId>()
  private order: NodeId[] = []
  /** The list `order` was shuffled from: while next() is given that very list, all of `order` is live. */
  private orderFrom: readonly NodeId[] | null = null
  private nextDialAt = -Infinity
  /** When each member last pinged us (pingedLately). */
  private readonly pingedAt = new Map<NodeId, Millis>()

  constructor(private readonly config: MembershipConfig, private readonly rng: Rng) {}

  connect(peer: NodeId): void {
    this.connected.add(peer)
  }

  disconnect(peer: NodeId): void {
    this.connected.delete(peer)
  }

  connectedCount(): number {
    return this.connected.size
  }

  isConnected(peer: NodeId): boolean {
    return this.connected.has(peer)
  }

  /** `peer` pinged us: it was alive then. */
  pinged(peer: NodeId, now: Millis): void {
    this.pingedAt.set(peer, now)
  }

  forget(peer: NodeId): void {
    this.pingedAt.delete(peer)
  }

  /**
   * Whether `peer` pinged us within probeFreshMs, so that our own routine probe of it may be
   * passed over. Never while our local health is stretched (`scale` > 1): probes of ours are
   * failing, so we may be the one cut off, and only our own probes tell us that.
   */
  pingedLately(peer: NodeId, now: Millis, scale: number): boolean {
    return scale === 1 && now - (this.pingedAt.get(peer) ?? -Infinity) < this.config.probeFreshMs
  }

  /** Connected peers that `known` does not list (a join seed before its table arrived). */
  unknownConnected(known: (id: NodeId) => boolean): NodeId[] {
    return [...this.connected].filter((id) => !known(id)).sort()
  }

  /**
   * The next member to probe: round-robin over a shuffled list of the live members (SWIM's cycle),
   * looking at no more than VISITS_PER_PROBE of them per probe interval. A member we are not
   * connected to is probed only when a dial is due; otherwise its visit is spent. The dial
   * interval stretches by `scale` (Lifeguard's local health: a node that is behind is the last
   * that should take on handshakes). Undefined: nobody to probe now. `live` is a new array whenever
   * the live set changed (the member table keeps one per live version): while it is the list the
   * cycle was shuffled from, its members are not asked about (each ask is a lookup in a table that
   * is cold in cache at 10,000 simulated nodes, twice per probe interval).
   */
  next(live: readonly NodeId[], isLive: (id: NodeId) => boolean, now: Millis, scale: number): NodeId | undefined {
    let visits = VISITS_PER_PROBE
    for (let pass = 0; pass < 2; pass++) {
      while (this.order.length > 0) {
        const id = this.order.pop() as NodeId
        if (live !== this.orderFrom && !isLive(id)) continue
        if (this.mayReach(id, now, scale)) return id
        if (--visits <= 0) return undefined
      }
      this.order = this.rng.shuffle([...live])
      this.orderFrom = live
    }
    return undefined
  }

  /**
   * Whether a request to `peer` may go now: we are connected to it, or a dial is due (which it
   * then uses up). `scale` as in next().
   */
  mayReach(peer: NodeId, now: Millis, scale: number): boolean {
    if (this.connected.has(peer)) return true
    if (now < this.nextDialAt) return false
    this.nextDialAt = now + this.config.probeDialIntervalMs * scale
    return true
  }

  /** Up to k members to ask about `target` (relays of an indirect probe, checkers of a suspicion): connected ones first. */
  helpers(live: readonly NodeId[], target: NodeId, k: number): NodeId[] {
    const candidates = live.filter((id) => id !== target)
    const near = candidates.filter((id) => this.connected.has(id))
    if (near.length >= k) return this.rng.sample(near, k)
    return [...this.rng.shuffle(near), ...this.rng.sample(candidates.filter((id) => !this.connected.has(id)), k - near.length)]
  }

  /**
   * A member for the periodic push-pull: one drawn from all of `live`, when we are connected to
   * it; undefined (no periodic push-pull this time) when we are not, rather than a dial outside
   * the budget. Drawing among connected members only sent every joiner's push-pull to its seed,
   * the one member all of them are connected to: 49 agents asking it for the differences of a
   * changing table every 5 s while it starved. Anti-entropy loses little: every new connection
   * starts a push-pull of its own (membership.ts), and in a full mesh every draw is connected.
   * Connected to nobody (every connection dropped), the draw is dialled: there is no one else.
   */
  syncPartner(live: readonly NodeId[]): NodeId | undefined {
    if (live.length === 0) return undefined
    const id = live[this.rng.int(live.length)] as NodeId
    return this.connected.size === 0 || this.connected.has(id) ? id : undefined
  }
}
