// The simulated network: per-link latency (a fixed per-link base plus seeded jitter), message
// loss, partitions that form and heal, and byte/message accounting per node. It carries opaque
// sizes and callbacks; what the bytes are (gossipsub frames, rpc streams) is decided by the
// callers, which encode every payload with the real codec first.
import { Rng, seedFromString } from '../core/rng.js'
import type { Millis } from '../core/types.js'
import type { EventQueue } from './event-queue.js'

export type JitterKind = 'uniform' | 'lognormal'

export interface LinkOptions {
  /** One-way latency of a typical link, ms (1 = one LAN/rack hop). */
  baseMs: number
  /**
   * Links differ: each link's base is `baseMs * f`, with f fixed per link and spread uniformly in
   * [1 - linkSpread, 1 + linkSpread] (drawn from a hash of the two ends, so it costs no memory).
   */
  linkSpread: number
  /** Per-message jitter added to the link's base. */
  jitter: JitterKind
  /** uniform: jitter in [0, jitterMs); lognormal: median jitterMs. */
  jitterMs: number
  /** lognormal only: sigma of the underlying normal (0.5 gives p99 ~3.2x the median). */
  sigma: number
  /** Probability that one gossipsub frame (a message copy, IHAVE, IWANT...) is lost. */
  gossipLoss: number
  /** Probability that one rpc request or response is lost (the caller then times out). */
  rpcLoss: number
}

export const DEFAULT_LINKS: LinkOptions = {
  baseMs: 1, linkSpread: 0.2, jitter: 'lognormal', jitterMs: 0.2, sigma: 0.5, gossipLoss: 0, rpcLoss: 0,
}

/** What the bytes on a link are, for the per-channel breakdown of the report. */
export type Channel = 'gossip' | 'gossip-ctl' | 'rpc' | 'keepalive'
export const CHANNELS: readonly Channel[] = ['gossip', 'gossip-ctl', 'rpc', 'keepalive']

/** Per-node counters; grown as nodes are added. Index = the node's simulator index. */
export class Traffic {
  bytesSent: Float64Array<ArrayBuffer> = new Float64Array(16)
  bytesRecv: Float64Array<ArrayBuffer> = new Float64Array(16)
  msgsSent: Float64Array<ArrayBuffer> = new Float64Array(16)
  msgsRecv: Float64Array<ArrayBuffer> = new Float64Array(16)
  readonly byChannelSent = new Map<Channel, Float64Array>(CHANNELS.map((c) => [c, new Float64Array(16)]))
  readonly byChannelRecv = new Map<Channel, Float64Array>(CHANNELS.map((c) => [c, new Float64Array(16)]))

  ensure(n: number): void {
    if (n <= this.bytesSent.length) return
    const size = Math.max(n, this.bytesSent.length * 2)
    const grow = (a: Float64Array): Float64Array<ArrayBuffer> => { const b = new Float64Array(size); b.set(a); return b }
    this.bytesSent = grow(this.bytesSent)
    this.bytesRecv = grow(this.bytesRecv)
    this.msgsSent = grow(this.msgsSent)
    this.msgsRecv = grow(this.msgsRecv)
    for (const c of CHANNELS) {
      this.byChannelSent.set(c, grow(this.byChannelSent.get(c) as Float64Array))
      this.byChannelRecv.set(c, grow(this.byChannelRecv.get(c) as Float64Array))
    }
  }

  sent(node: number, bytes: number, channel: Channel, msgs = 1): void {
    this.bytesSent[node] = (this.bytesSent[node] as number) + bytes
    this.msgsSent[node] = (this.msgsSent[node] as number) + msgs
    const c = this.byChannelSent.get(channel) as Float64Array
    c[node] = (c[node] as number) + bytes
  }

  received(node: number, bytes: number, channel: Channel, msgs = 1): void {
    this.bytesRecv[node] = (this.bytesRecv[node] as number) + bytes
    this.msgsRecv[node] = (this.msgsRecv[node] as number) + msgs
    const c = this.byChannelRecv.get(channel) as Float64Array
    c[node] = (c[node] as number) + bytes
  }

  /** A copy of every counter, to diff over a measurement window. */
  snapshot(n: number): TrafficSnapshot {
    const cut = (a: Float64Array): number[] => Array.from(a.subarray(0, n))
    const byChannel = (m: Map<Channel, Float64Array>): Record<Channel, number[]> =>
      Object.fromEntries(CHANNELS.map((c) => [c, cut(m.get(c) as Float64Array)])) as Record<Channel, number[]>
    return {
      bytesSent: cut(this.bytesSent), bytesRecv: cut(this.bytesRecv), msgsSent: cut(this.msgsSent), msgsRecv: cut(this.msgsRecv),
      channelSent: byChannel(this.byChannelSent), channelRecv: byChannel(this.byChannelRecv),
    }
  }
}

export interface TrafficSnapshot {
  bytesSent: number[]
  bytesRecv: number[]
  msgsSent: number[]
  msgsRecv: number[]
  channelSent: Record<Channel, number[]>
  channelRecv: Record<Channel, number[]>
}

/** How a node is doing, as far as the network cares. */
export type NodeRunState = 'up' | 'frozen' | 'down'

/** What the network needs to know about nodes: whether they run, and where a frozen node's input waits. */
export interface NodeTable {
  runState(node: number): NodeRunState
  /** A process generation: bumped by kill and restart, so data in flight to an old process is dropped. */
  generation(node: number): number
  /** Input that reached a frozen node: its sockets took it, its event loop will see it on thaw. */
  backlog(node: number, fn: () => void): void
}

interface Partition {
  id: number
  /** One side; everyone else is the other side. */
  side: Set<number>
}

export class Network {
  readonly traffic = new Traffic()
  private readonly jitterRng: Rng
  private readonly lossRng: Rng
  private readonly cuts = new Set<number>()
  private partitions: Partition[] = []
  private nextPartition = 1
  private spareNormal: number | undefined

  constructor(
    private readonly queue: EventQueue,
    private readonly clock: { now: Millis },
    private readonly nodes: NodeTable,
    readonly links: LinkOptions,
    seed: number,
  ) {
    this.jitterRng = new Rng(seed ^ seedFromString('net/jitter'))
    this.lossRng = new Rng(seed ^ seedFromString('net/loss'))
  }

  /** The fixed part of one link's latency (same both ways). */
  linkBaseMs(a: number, b: number): number {
    const spread = this.links.linkSpread
    if (spread === 0) return this.links.baseMs
    const lo = a < b ? a : b
    const hi = a < b ? b : a
    // A cheap integer hash of the pair, mapped to [0, 1).
    let h = Math.imul(lo ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(hi + 0x632be5ab, 0xc2b2ae35)
    h ^= h >>> 15
    h = Math.imul(h, 0x2c1b3c6d)
    h ^= h >>> 12
    const u = (h >>> 0) / 4294967296
    return this.links.baseMs * (1 - spread + 2 * spread * u)
  }

  /** One message's one-way latency on a link: the link's base plus a jitter draw. */
  latencyMs(a: number, b: number): number {
    return this.linkBaseMs(a, b) + this.jitter()
  }

  private jitter(): number {
    const { jitter, jitterMs, sigma } = this.links
    if (jitterMs <= 0) return 0
    if (jitter === 'uniform') return jitterMs * this.jitterRng.next()
    // Lognormal with median jitterMs: heavy enough a tail for queueing and retransmits, never negative.
    return Math.min(jitterMs * Math.exp(sigma * this.normal()), 1000 * jitterMs)
  }

  private normal(): number {
    if (this.spareNormal !== undefined) {
      const z = this.spareNormal
      this.spareNormal = undefined
      return z
    }
    // Box-Muller on two seeded uniforms.
    const u = 1 - this.jitterRng.next()
    const v = this.jitterRng.next()
    const r = Math.sqrt(-2 * Math.log(u))
    this.spareNormal = r * Math.sin(2 * Math.PI * v)
    return r * Math.cos(2 * Math.PI * v)
  }

  /** Whether a message on this channel is lost (one draw per message). */
  lost(channel: Channel): boolean {
    const p = channel === 'rpc' ? this.links.rpcLoss : channel === 'keepalive' ? 0 : this.links.gossipLoss
    return p > 0 && this.lossRng.next() < p
  }

  /** Extra loss during a fault window (`loss:5%@...`): added to both channels until cleared. */
  setLoss(gossip: number, rpc: number): void {
    this.links.gossipLoss = gossip
    this.links.rpcLoss = rpc
  }

  // --- partitions -------------------------------------------------------------------------------

  /** Whether a and b cannot talk: a cut between them, or a partition that puts them on different sides. */
  blocked(a: number, b: number): boolean {
    if (this.cuts.size > 0 && this.cuts.has(pairKey(a, b))) return true
    for (const p of this.partitions) if (p.side.has(a) !== p.side.has(b)) return true
    return false
  }

  cut(a: number, b: number, on: boolean): void {
    if (on) this.cuts.add(pairKey(a, b))
    else this.cuts.delete(pairKey(a, b))
  }

  /** Split `side` from everyone else; returns an id for heal(). */
  partition(side: Iterable<number>): number {
    const id = this.nextPartition++
    this.partitions.push({ id, side: new Set(side) })
    return id
  }

  heal(id: number): void {
    this.partitions = this.partitions.filter((p) => p.id !== id)
  }

  /** Whether a node is on the small side of any active partition or cut off from anyone. */
  isolated(node: number): boolean {
    return this.partitions.some((p) => p.side.has(node))
  }

  // --- carrying bytes ---------------------------------------------------------------------------

  /**
   * Sends `bytes` from `from` to `to`. They count as sent at once; unless the link is blocked or
   * the message is lost they arrive after the link's latency (plus `extraMs`) and count as
   * received, and `onArrive` runs then, or at thaw if the receiver is frozen. Data in flight
   * to a process that has since died (or restarted) is dropped, like a reset connection.
   */
  transmit(from: number, to: number, bytes: number, channel: Channel, onArrive: () => void, extraMs = 0, msgs = 1): void {
    this.traffic.sent(from, bytes, channel, msgs)
    if (this.blocked(from, to) || this.lost(channel)) return
    const gen = this.nodes.generation(to)
    this.queue.push(this.clock.now + extraMs + this.latencyMs(from, to), () => {
      const state = this.nodes.runState(to)
      if (state === 'down' || this.nodes.generation(to) !== gen) return
      this.traffic.received(to, bytes, channel, msgs)
      if (state === 'frozen') this.nodes.backlog(to, onArrive)
      else onArrive()
    })
  }

  /**
   * transmit, for a copy its receiver is sure to drop as a duplicate (it already has the message,
   * and this copy leaves later): the same accounting and the same random draws, but no arrival
   * event. It counts as received now instead of one link latency later, and `onDrop` runs now.
   * Most gossipsub copies are such duplicates (flood publish reaches every peer first), and their
   * events were ~90% of an idle cluster's agenda.
   */
  transmitDuplicate(from: number, to: number, bytes: number, channel: Channel, onDrop: () => void): void {
    this.traffic.sent(from, bytes, channel, 1)
    if (this.blocked(from, to) || this.lost(channel)) return
    this.latencyMs(from, to)
    if (this.nodes.runState(to) === 'down') return
    this.traffic.received(to, bytes, channel, 1)
    onDrop()
  }
}

function pairKey(a: number, b: number): number {
  const lo = a < b ? a : b
  const hi = a < b ? b : a
  return lo * 1_048_576 + hi
}
