// A model of gossipsub v1.1/v1.2 as @libp2p/gossipsub 17 runs it for murmur, close enough that
// bytes per node and delivery delays come out like the real thing:
// - flood publish: the author sends to every topic peer (the library's default, floodPublish);
// - mesh forwarding: on the first copy, a node forwards to its mesh peers except the one it came
//   from; later copies are duplicates (seen cache by message id): dropped, but their bytes were
//   spent, as in the real protocol;
// - IDONTWANT (v1.2): a node that takes a message of >= 512 data bytes tells its mesh peers, and a
//   peer that already heard that skips it when forwarding;
// - heartbeat every 1 s: mesh upkeep (graft below D_lo up to D, prune above D_hi down to D,
//   GRAFT/PRUNE frames, prune backoff), and IHAVE gossip of the message ids of the last 3
//   heartbeats (mcache gossip window) to max(D_lazy, 0.25 * non-mesh peers) non-mesh peers;
//   a peer that lacks some ids asks with IWANT and gets them from the 5-heartbeat mcache;
// - a second topic for pubsub-peer-discovery, which the agent runs beside the cluster topic, and
//   a third for the cell's event stream (activity digests), which only nodes with a watcher join:
//   its meshes, IHAVEs and flood publishes go to its subscribers only (a publisher that is not
//   one sends to the subscribers among its peers, as the library's flood publish does).
// Not modelled: peer scoring (murmur sets no topic score parameters, so scores stay 0), fanout
// state (a non-subscriber's publish goes to every subscribed peer: flood publish),
// opportunistic grafting (needs scores), outbound quotas (D_out), PX (off in murmur), seen-cache
// expiry (2 minutes, far longer than any message lives here). Validation and signing cost fixed
// time per hop; there is no CPU queueing.
import { Rng, seedFromString } from '../core/rng.js'
import type { Millis } from '../core/types.js'
import { CLUSTER_TOPIC, eventsTopic, GOSSIP_FACTOR, PEER_EXCHANGE_BACKSTOP_MS } from '../gossip/topics.js'
import type { EventQueue } from './event-queue.js'
import type { Network, NodeRunState } from './network.js'
import {
  gossipFrameBytes, gossipMessageBytes, graftFrameBytes, idontwantFrameBytes, ihaveFrameBytes, iwantFrameBytes,
  KEEPALIVE_BYTES_PER_CONNECTION_PER_SECOND, pruneFrameBytes,
} from './wire-sizes.js'

export interface GossipsubParams {
  D: number
  Dlo: number
  Dhi: number
  Dlazy: number
  gossipFactor: number
  heartbeatMs: number
  heartbeatInitialDelayMs: number
  /** Heartbeats a message stays in the cache that answers IWANT. */
  mcacheLength: number
  /** Heartbeats of message ids advertised in IHAVE. */
  mcacheGossip: number
  floodPublish: boolean
  /** v1.2: messages with at least this many data bytes trigger IDONTWANT to mesh peers. */
  idontwantMinDataSize: number
  maxIHaveLength: number
  pruneBackoffMs: number
  /** Signing a message before publishing it (ed25519, measured ~200 µs). */
  signMs: number
  /** Checking a message's signature and running the topic validator before forwarding it. */
  validateMs: number
  /** pubsub-peer-discovery announcement period per node (0: not modelled). */
  discoveryIntervalMs: number
  /** Data bytes of one peer-discovery announcement (public key + one listen address). */
  discoveryDataBytes: number
}

/** @libp2p/gossipsub 17.1 defaults (dist/src/constants.js), with murmur's host's gossip factor. */
export const GOSSIPSUB_DEFAULTS: GossipsubParams = {
  D: 6, Dlo: 4, Dhi: 12, Dlazy: 6, gossipFactor: GOSSIP_FACTOR, heartbeatMs: 1_000, heartbeatInitialDelayMs: 100,
  mcacheLength: 5, mcacheGossip: 3, floodPublish: true, idontwantMinDataSize: 512, maxIHaveLength: 5_000,
  pruneBackoffMs: 60_000, signMs: 0.2, validateMs: 0.25,
  discoveryIntervalMs: PEER_EXCHANGE_BACKSTOP_MS, discoveryDataBytes: 52,
}

const TOPIC_NAMES = [CLUSTER_TOPIC, `${CLUSTER_TOPIC}/peer-discovery`, eventsTopic(CLUSTER_TOPIC)] as const
export const CLUSTER = 0
export const DISCOVERY = 1
/** The cell's event stream: only watched nodes subscribe. */
export const EVENTS = 2
const TOPIC_COUNT = TOPIC_NAMES.length

/** One published message, shared by every node that handles it. */
export interface GossipMsg {
  id: number
  topic: number
  origin: number
  publishedAt: Millis
  dataBytes: number
  /** Bytes of the protobuf Message. */
  messageBytes: number
  /** Bytes of one copy alone in a frame, as sent when publishing or forwarding. */
  frameBytes: number
  /** The decoded payload the core gets (cluster and event topics). */
  payload: unknown
  /**
   * Per node that has it: ms after publishedAt of its first copy (float32-rounded, as the array
   * it was). A map, not an array per node of the cluster: at 10,000 nodes that was 40 KB per
   * message, allocated hundreds of times per simulated second, for a cell of 100.
   */
  firstAt: Map<number, number>
  /** Nodes that existed when it was published (later ones never take it). */
  span: number
  /** Nodes with an IWANT for it outstanding (lazily allocated). */
  asked: Set<number> | undefined
}

interface Router {
  gen: number
  peers: Set<number>
  /** Topics this node joined (every node joins the cluster and discovery topics). */
  subscribed: boolean[]
  mesh: Array<Set<number>>
  /** peer -> time until which we do not graft it (after a PRUNE), per topic. */
  backoff: Array<Map<number, Millis>>
  /** mcache windows, newest first, per topic. */
  windows: Array<GossipMsg[][]>
}

/** What the model needs from the cluster around it. */
export interface GossipHost {
  readonly clock: { now: Millis }
  readonly queue: EventQueue
  readonly net: Network
  runState(node: number): NodeRunState
  generation(node: number): number
  nodeCount(): number
  /** The first copy of a cluster-topic or event-topic message reached a node: hand it to its core. */
  deliver(node: number, msg: GossipMsg): void
  /** Whether the node watches the event stream (has it joined the event topic). */
  watches(node: number): boolean
}

export interface GossipsubStats {
  published: number
  /** First copies handed to a core (cluster topic). */
  delivered: number
  duplicates: number
  /** Duplicates of cluster-topic messages (the ones `delivered` counts). */
  clusterDuplicates: number
  ihave: number
  iwant: number
  idontwant: number
  skippedByIdontwant: number
  grafts: number
  prunes: number
  /** Copies that arrived through IWANT (gossip repaired a miss). */
  recoveredByGossip: number
}

export class Gossipsub {
  private readonly routers: Array<Router | undefined> = []
  private readonly rng: Rng
  private nextId = 1
  readonly stats: GossipsubStats = {
    published: 0, delivered: 0, duplicates: 0, clusterDuplicates: 0, ihave: 0, iwant: 0, idontwant: 0, skippedByIdontwant: 0, grafts: 0, prunes: 0, recoveredByGossip: 0,
  }

  constructor(private readonly host: GossipHost, readonly params: GossipsubParams, seed: number) {
    this.rng = new Rng(seed ^ seedFromString('gossipsub'))
  }

  /** A (re)started node: fresh router state, heartbeats and peer-discovery announcements begin. */
  startNode(node: number): void {
    const gen = this.host.generation(node)
    this.routers[node] = {
      gen, peers: new Set(), subscribed: [true, true, this.host.watches(node)],
      mesh: Array.from({ length: TOPIC_COUNT }, () => new Set<number>()),
      backoff: Array.from({ length: TOPIC_COUNT }, () => new Map<number, Millis>()),
      windows: Array.from({ length: TOPIC_COUNT }, () => [[]]),
    }
    const p = this.params
    this.scheduleHeartbeat(node, gen, this.host.clock.now + p.heartbeatInitialDelayMs + this.rng.next() * p.heartbeatMs)
    if (p.discoveryIntervalMs > 0) this.scheduleDiscovery(node, gen, this.host.clock.now + this.rng.next() * p.discoveryIntervalMs)
  }

  /** The node's process is gone: its connections close, peers drop it from topics and meshes. */
  stopNode(node: number): void {
    const r = this.routers[node]
    if (r === undefined) return
    for (const p of [...r.peers]) this.disconnect(node, p)
    this.routers[node] = undefined
  }

  connect(a: number, b: number): void {
    const ra = this.routers[a]
    const rb = this.routers[b]
    if (ra === undefined || rb === undefined || a === b) return
    ra.peers.add(b)
    rb.peers.add(a)
  }

  disconnect(a: number, b: number): void {
    for (const [x, y] of [[a, b], [b, a]] as const) {
      const r = this.routers[x]
      if (r === undefined) continue
      r.peers.delete(y)
      for (const m of r.mesh) m.delete(y)
    }
  }

  peerCount(node: number): number {
    return this.routers[node]?.peers.size ?? 0
  }

  peersOf(node: number): number[] {
    return [...(this.routers[node]?.peers ?? [])]
  }

  isConnected(a: number, b: number): boolean {
    return this.routers[a]?.peers.has(b) ?? false
  }

  meshOf(node: number, topic = CLUSTER): number[] {
    return [...(this.routers[node]?.mesh[topic] ?? [])]
  }

  /** Whether `node` joined topic `t`. */
  private subscribes(node: number, t: number): boolean {
    return this.routers[node]?.subscribed[t] === true
  }

  /** Build meshes as if heartbeats had run for a while: each node grafts up to D peers that have room. */
  warmMeshes(nodes: readonly number[]): void {
    for (let t = 0; t < TOPIC_COUNT; t++) {
      for (const n of nodes) {
        const r = this.routers[n]
        if (r === undefined || r.subscribed[t] !== true) continue
        const mesh = r.mesh[t] as Set<number>
        if (mesh.size >= this.params.D) continue
        const candidates = [...r.peers].filter((p) => !mesh.has(p) && this.subscribes(p, t) && ((this.routers[p]?.mesh[t]?.size ?? this.params.Dhi) < this.params.Dhi))
        for (const p of this.rng.sample(candidates, this.params.D - mesh.size)) {
          mesh.add(p)
          this.routers[p]?.mesh[t]?.add(n)
        }
      }
    }
  }

  /** The core published: sign, then send to every topic peer (flood publish) or the mesh. */
  publish(origin: number, payload: unknown, dataBytes: number, topic = CLUSTER): GossipMsg | undefined {
    const r = this.routers[origin]
    if (r === undefined) return undefined
    const messageBytes = gossipMessageBytes(TOPIC_NAMES[topic]?.length ?? 0, dataBytes)
    const msg: GossipMsg = {
      id: this.nextId++, topic, origin, publishedAt: this.host.clock.now, dataBytes, messageBytes,
      frameBytes: gossipFrameBytes([messageBytes]), payload, firstAt: new Map(), span: this.host.nodeCount(), asked: undefined,
    }
    msg.firstAt.set(origin, 0)
    this.stats.published++
    ;(r.windows[topic] as GossipMsg[][])[0]?.push(msg)
    const mesh = r.mesh[topic] as Set<number>
    let targets: Iterable<number>
    if (topic === EVENTS) targets = [...r.peers].filter((p) => this.subscribes(p, EVENTS))
    else if (this.params.floodPublish) targets = r.peers
    else {
      const t = new Set(mesh)
      if (t.size < this.params.D) for (const p of this.rng.sample([...r.peers].filter((x) => !mesh.has(x)), this.params.D - t.size)) t.add(p)
      targets = t
    }
    for (const to of targets) this.sendMessage(origin, to, msg, this.params.signMs)
    return msg
  }

  // --- receiving and forwarding -------------------------------------------------------------------

  private sendMessage(from: number, to: number, msg: GossipMsg, extraMs: number): void {
    // A peer that already has it drops this copy on arrival, whenever that is: no event for it.
    if (msg.firstAt.has(to)) {
      this.host.net.transmitDuplicate(from, to, msg.frameBytes, 'gossip', () => this.duplicate(to, msg))
      return
    }
    // The receiver validates (signature, topic validator) before it forwards or delivers: fold
    // that fixed cost into the arrival time.
    this.host.net.transmit(from, to, msg.frameBytes, 'gossip', () => this.receive(to, msg, from), extraMs + this.params.validateMs)
  }

  private duplicate(node: number, msg: GossipMsg): void {
    const r = this.routers[node]
    if (r === undefined || r.gen !== this.host.generation(node)) return
    this.stats.duplicates++
    if (msg.topic === CLUSTER) this.stats.clusterDuplicates++
  }

  private receive(node: number, msg: GossipMsg, from: number): void {
    const r = this.routers[node]
    if (r === undefined || r.gen !== this.host.generation(node)) return
    if (node >= msg.span) return
    if (msg.firstAt.has(node)) {
      this.duplicate(node, msg)
      return
    }
    const now = this.host.clock.now
    msg.firstAt.set(node, Math.fround(now - msg.publishedAt))
    msg.asked?.delete(node)
    ;(r.windows[msg.topic] as GossipMsg[][])[0]?.push(msg)
    const mesh = r.mesh[msg.topic] as Set<number>
    if (msg.dataBytes >= this.params.idontwantMinDataSize) {
      for (const p of mesh) {
        if (p === from) continue
        this.stats.idontwant++
        // Bytes only: whether the peer heard it in time is decided when it forwards (see skips()).
        this.host.net.transmit(node, p, idontwantFrameBytes(1), 'gossip-ctl', noop)
      }
    }
    for (const p of mesh) {
      if (p === from) continue
      if (this.skips(node, p, msg, now)) continue
      this.sendMessage(node, p, msg, 0)
    }
    if (msg.topic === CLUSTER || msg.topic === EVENTS) {
      this.stats.delivered++
      this.host.deliver(node, msg)
    }
  }

  /**
   * Whether `peer` told `node` IDONTWANT for this message in time: it has the message, it sends
   * IDONTWANT to its mesh (which holds `node`), and one link latency has passed since.
   */
  private skips(node: number, peer: number, msg: GossipMsg, now: Millis): boolean {
    if (msg.dataBytes < this.params.idontwantMinDataSize) return false
    const at = msg.firstAt.get(peer)
    if (at === undefined || peer === msg.origin) return false
    if (!(this.routers[peer]?.mesh[msg.topic]?.has(node) ?? false)) return false
    if (msg.publishedAt + at + this.host.net.linkBaseMs(peer, node) > now) return false
    this.stats.skippedByIdontwant++
    return true
  }

  // --- heartbeat ----------------------------------------------------------------------------------

  private scheduleHeartbeat(node: number, gen: number, at: Millis): void {
    this.host.queue.push(at, () => {
      const r = this.routers[node]
      if (r === undefined || r.gen !== gen) return
      // A frozen process's timers do not fire; the next heartbeat comes when it runs again.
      if (this.host.runState(node) === 'up') this.heartbeat(node, r)
      this.scheduleHeartbeat(node, gen, at + this.params.heartbeatMs)
    })
  }

  private heartbeat(node: number, r: Router): void {
    const p = this.params
    const now = this.host.clock.now
    for (let t = 0; t < TOPIC_COUNT; t++) {
      if (r.subscribed[t] !== true) continue
      const mesh = r.mesh[t] as Set<number>
      const backoff = r.backoff[t] as Map<number, Millis>
      for (const [peer, until] of backoff) if (until <= now) backoff.delete(peer)
      if (mesh.size < p.Dlo) {
        const candidates = [...r.peers].filter((x) => !mesh.has(x) && !backoff.has(x) && this.subscribes(x, t))
        for (const peer of this.rng.sample(candidates, p.D - mesh.size)) {
          mesh.add(peer)
          this.stats.grafts++
          this.host.net.transmit(node, peer, graftFrameBytes(TOPIC_NAMES[t]?.length ?? 0), 'gossip-ctl', () => this.onGraft(peer, node, t))
        }
      } else if (mesh.size > p.Dhi) {
        const keep = new Set(this.rng.sample([...mesh], p.D))
        for (const peer of [...mesh]) {
          if (keep.has(peer)) continue
          this.prune(node, r, peer, t)
        }
      }
      this.emitGossip(node, r, t)
      const windows = r.windows[t] as GossipMsg[][]
      windows.unshift([])
      if (windows.length > p.mcacheLength) windows.length = p.mcacheLength
    }
    // Keepalive pings on every connection (yamux's), both directions.
    const ka = r.peers.size * KEEPALIVE_BYTES_PER_CONNECTION_PER_SECOND * (p.heartbeatMs / 1000)
    if (ka > 0) {
      this.host.net.traffic.sent(node, ka, 'keepalive', 0)
      this.host.net.traffic.received(node, ka, 'keepalive', 0)
    }
  }

  private prune(node: number, r: Router, peer: number, t: number): void {
    ;(r.mesh[t] as Set<number>).delete(peer)
    ;(r.backoff[t] as Map<number, Millis>).set(peer, this.host.clock.now + this.params.pruneBackoffMs)
    this.stats.prunes++
    this.host.net.transmit(node, peer, pruneFrameBytes(TOPIC_NAMES[t]?.length ?? 0), 'gossip-ctl', () => this.onPrune(peer, node, t))
  }

  private onGraft(node: number, from: number, t: number): void {
    const r = this.routers[node]
    if (r === undefined || !r.peers.has(from) || r.subscribed[t] !== true) return
    const backoff = r.backoff[t] as Map<number, Millis>
    // A graft during our backoff is refused with a prune (gossipsub v1.1).
    if ((backoff.get(from) ?? 0) > this.host.clock.now) this.prune(node, r, from, t)
    else (r.mesh[t] as Set<number>).add(from)
  }

  private onPrune(node: number, from: number, t: number): void {
    const r = this.routers[node]
    if (r === undefined) return
    ;(r.mesh[t] as Set<number>).delete(from)
    ;(r.backoff[t] as Map<number, Millis>).set(from, this.host.clock.now + this.params.pruneBackoffMs)
  }

  /** IHAVE with the ids of the last mcacheGossip heartbeats to D_lazy (or gossipFactor of) non-mesh peers. */
  private emitGossip(node: number, r: Router, t: number): void {
    const p = this.params
    const windows = r.windows[t] as GossipMsg[][]
    const ids: GossipMsg[] = []
    for (let w = 0; w < Math.min(p.mcacheGossip, windows.length); w++) for (const m of windows[w] as GossipMsg[]) ids.push(m)
    if (ids.length === 0) return
    const mesh = r.mesh[t] as Set<number>
    const candidates: number[] = []
    for (const peer of r.peers) if (!mesh.has(peer) && (t !== EVENTS || this.subscribes(peer, t))) candidates.push(peer)
    if (candidates.length === 0) return
    const target = Math.min(candidates.length, Math.max(p.Dlazy, Math.floor(p.gossipFactor * candidates.length)))
    const chosen = target >= candidates.length ? candidates : this.rng.sample(candidates, target)
    const advertised = ids.length > p.maxIHaveLength ? ids.slice(0, p.maxIHaveLength) : ids
    const bytes = ihaveFrameBytes(TOPIC_NAMES[t]?.length ?? 0, advertised.length)
    for (const peer of chosen) {
      this.stats.ihave++
      // An IHAVE whose every id the peer has (or has asked for) changes nothing where it arrives:
      // those sets only grow, so it is sure to be ignored; same bytes and draws, no event.
      if (advertised.every((m) => !wants(peer, m))) this.host.net.transmitDuplicate(node, peer, bytes, 'gossip-ctl', noop)
      else this.host.net.transmit(node, peer, bytes, 'gossip-ctl', () => this.onIHave(peer, node, advertised))
    }
  }

  private onIHave(node: number, from: number, ids: readonly GossipMsg[]): void {
    const r = this.routers[node]
    if (r === undefined || !r.peers.has(from)) return
    const want: GossipMsg[] = []
    for (const m of ids) {
      if (!wants(node, m)) continue
      m.asked ??= new Set()
      m.asked.add(node)
      want.push(m)
    }
    if (want.length === 0) return
    this.stats.iwant++
    this.host.net.transmit(node, from, iwantFrameBytes(want.length), 'gossip-ctl', () => this.onIWant(from, node, want))
  }

  private onIWant(node: number, from: number, want: readonly GossipMsg[]): void {
    const r = this.routers[node]
    if (r === undefined) return
    const now = this.host.clock.now
    const cacheMs = this.params.mcacheLength * this.params.heartbeatMs
    const have = want.filter((m) => {
      const at = m.firstAt.get(node)
      return at !== undefined && now - (m.publishedAt + at) < cacheMs
    })
    if (have.length === 0) {
      for (const m of want) m.asked?.delete(from)
      return
    }
    const bytes = gossipFrameBytes(have.map((m) => m.messageBytes))
    this.host.net.transmit(node, from, bytes, 'gossip', () => {
      for (const m of have) {
        const before = from < m.span && !m.firstAt.has(from)
        this.receive(from, m, node)
        if (before && m.firstAt.has(from)) this.stats.recoveredByGossip++
      }
    }, this.params.validateMs * have.length)
  }

  // --- peer discovery -----------------------------------------------------------------------------

  private scheduleDiscovery(node: number, gen: number, at: Millis): void {
    this.host.queue.push(at, () => {
      const r = this.routers[node]
      if (r === undefined || r.gen !== gen) return
      if (this.host.runState(node) === 'up') this.publish(node, undefined, this.params.discoveryDataBytes, DISCOVERY)
      this.scheduleDiscovery(node, gen, at + this.params.discoveryIntervalMs)
    })
  }
}

function noop(): void {}

/** Whether an IHAVE of `m` makes `node` ask for it: not seen, not asked for, and it existed when `m` was published. */
function wants(node: number, m: GossipMsg): boolean {
  return node < m.span && !m.firstAt.has(node) && m.asked?.has(node) !== true
}
