// The cluster host: the one place murmur touches libp2p. It moves BYTES (gossip on one topic,
// requests and responses over one long-lived channel per peer) and reports peers coming and
// going; the protocol core above it encodes, decodes and decides. Helpers: libp2p-config.ts (how
// the node is built), channel-*.ts and peer-channel.ts (the request channels), discovery.ts (who
// to dial), host-errors.ts (errors).
import './polyfill.js'
import { createLibp2p, type Libp2p } from 'libp2p'
import { TopicValidatorResult, type Message, type SubscriptionChangeData } from '@libp2p/gossipsub'
import { generateKey as generatePnetKey } from '@libp2p/pnet'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { pino } from 'pino'
import type { PeerId, PeerInfo, PrivateKey } from '@libp2p/interface'
import type { Logger } from 'pino'
import { AnnounceThrottle, DiscoveryDialer, JoinLoop, parseJoinAddrs, type JoinTarget, type PeerConnector } from './discovery.js'
import { HostNotRunningError, InvalidHostOptionsError, MessageTooLargeError, PeerUnreachableError } from './host-errors.js'
import { buildLibp2pOptions, discoveryTopic, type HostServices } from './libp2p-config.js'
import { eventsTopic } from '../gossip/topics.js'
import { plainBytes } from './channel-frames.js'
import { CHANNEL_STREAMS_PER_CONNECTION, ChannelRegistry } from './channel-registry.js'

export {
  ChannelBusyError,
  HostNotRunningError,
  InvalidHostOptionsError,
  MessageTooLargeError,
  PeerUnreachableError,
  RpcRemoteError,
  RpcTimeoutError,
} from './host-errors.js'

export interface HostOptions {
  /** The node's identity (see identity.ts). */
  privateKey: PrivateKey
  /** Interface to listen on, e.g. '127.0.0.1'. */
  listenHost: string
  /** TCP port; 0 picks a free one (read it back from multiaddrs()). */
  listenPort: number
  /** Bootstrap multiaddrs, each ending in /p2p/<peer id>; retried until they answer. */
  join: string[]
  /** mDNS discovery on the LAN. Never the only way in: some networks drop multicast. */
  mdns: boolean
  /** pnet swarm key file contents (see generateSwarmKey); absent = public network. */
  swarmKey?: Uint8Array
  /** The one gossipsub topic, e.g. '/murmur/cluster/1'. */
  topic: string
  /** Protocol id of the request channels, e.g. CHANNEL_PROTOCOL ('/murmur/chan/1.0.0'). */
  rpcProtocol: string
  /** Hard cap for a gossip message and for an rpc request or response body. */
  maxMessageBytes: number
  /** Many peers share one IP (tests, `murmur up`): no IP-colocation penalty, 127/8 allow-listed. */
  colocated: boolean
  logger?: Logger
  /** Backstop period of peer-exchange announcements (default 30 s, see libp2p-config.ts). */
  peerExchangeIntervalMs?: number
}

export interface HostHandlers {
  /** A gossip message on the topic; `from` is the publishing (signing) peer, not the relay. */
  onGossip(from: string, data: Uint8Array): void
  /** An rpc request; the returned bytes are the response. A throw becomes RpcRemoteError at the caller. */
  onRequest(from: string, data: Uint8Array): Promise<Uint8Array>
  /** The first connection to a peer opened. */
  onPeerConnected(peer: string): void
  /** The last connection to a peer closed. Always preceded by onPeerConnected for that peer. */
  onPeerDisconnected(peer: string): void
}

export interface ClusterHost {
  readonly peerId: string
  /** Listen addresses including /p2p/<id>, ready to hand to another node's `join`. */
  multiaddrs(): string[]
  start(handlers: HostHandlers): Promise<void>
  stop(): Promise<void>
  /**
   * Publish on the cluster topic, or on its event topic (activity digests), which goes only to
   * peers that joined it: with none, nothing is sent and this resolves false. Never throws for
   * "no peers subscribed"; throws MessageTooLargeError when over the cap.
   */
  publish(data: Uint8Array, topic?: 'cluster' | 'events'): Promise<boolean>
  /** Join (or leave) the event topic: every node's job events reach us while someone watches ours. */
  watchEvents(on: boolean): void
  /**
   * One request, one response, over the peer's channel on rpcProtocol (opened on first use, and
   * again after it closed). Dials if needed (using `addrs` hints added to the peer store). Rejects
   * with RpcTimeoutError (or its ChannelBusyError), PeerUnreachableError, MessageTooLargeError or
   * RpcRemoteError.
   */
  request(peer: string, data: Uint8Array, opts: { timeoutMs: number; addrs?: string[]; signal?: AbortSignal }): Promise<Uint8Array>
  /**
   * Opens a connection to `peer` unless there is one (with `addrs` hints). A node that watches the
   * event topic must be connected to every node that publishes on it: gossipsub delivers only
   * among peers subscribed to a topic, and a publisher that sees no subscriber sends nothing.
   */
  connect(peer: string, addrs: string[]): Promise<void>
  connectedPeers(): string[]
}

/**
 * Announcements on the peer-exchange topic carry a public key and a few addresses (< 1 KiB);
 * anything much larger is not an announcement and is rejected before it is relayed.
 */
const PEER_EXCHANGE_MAX_BYTES = 16 * 1024
/** A watcher's dial to a publisher of the event topic (connect): the channels' budget. */
const CONNECT_TIMEOUT_MS = 5_000

/** A fresh pnet swarm key, in the file format `swarmKey` expects (`murmur keygen`). */
export function generateSwarmKey(): Uint8Array {
  // '/key/swarm/psk/1.0.0/\n' + '/base16/\n' + 64 hex digits
  const key = new Uint8Array(95)
  generatePnetKey(key)
  return key
}

export async function createClusterHost(opts: HostOptions): Promise<ClusterHost> {
  if (!Number.isInteger(opts.maxMessageBytes) || opts.maxMessageBytes <= 0) {
    throw new InvalidHostOptionsError(`maxMessageBytes must be a positive integer, got ${opts.maxMessageBytes}`)
  }
  const joinTargets = parseJoinAddrs(opts.join)
  let libp2p: Libp2p<HostServices>
  try {
    libp2p = await createLibp2p({ ...buildLibp2pOptions(opts), start: false })
  } catch (err) {
    // The one option libp2p itself rejects at build time is a malformed swarm key.
    throw new InvalidHostOptionsError(`cannot build the libp2p node: ${(err as Error).message}`, { cause: err })
  }
  return new Libp2pClusterHost(libp2p, opts, joinTargets)
}

class Libp2pClusterHost implements ClusterHost {
  readonly peerId: string
  readonly #libp2p: Libp2p<HostServices>
  readonly #opts: HostOptions
  readonly #log: Logger
  readonly #connected = new Set<string>()
  readonly #dialer: DiscoveryDialer
  readonly #joinLoop: JoinLoop
  readonly #announcer: AnnounceThrottle
  readonly #joinTargets: JoinTarget[]
  readonly #channels: ChannelRegistry
  #state: 'created' | 'running' | 'stopped' = 'created'
  #handlers?: HostHandlers

  constructor(libp2p: Libp2p<HostServices>, opts: HostOptions, joinTargets: JoinTarget[]) {
    this.#libp2p = libp2p
    this.#opts = opts
    this.peerId = libp2p.peerId.toString()
    this.#log = opts.logger?.child({ component: 'host' }) ?? pino({ level: 'silent' })
    this.#joinTargets = joinTargets
    const connector: PeerConnector = {
      self: libp2p.peerId,
      dial: async (peer, signal) => { await libp2p.dial(peer, { signal }) },
      isConnected: (peer) => libp2p.getConnections(peer).some((c) => c.status === 'open'),
      connectedCount: () => this.#connected.size,
    }
    this.#dialer = new DiscoveryDialer(connector, this.#log)
    this.#joinLoop = new JoinLoop(joinTargets, connector, this.#log)
    this.#announcer = new AnnounceThrottle(() => { libp2p.services.peerExchange._broadcast() }, this.#log)
    this.#channels = new ChannelRegistry(libp2p, { protocol: opts.rpcProtocol, maxMessageBytes: opts.maxMessageBytes, log: this.#log })
  }

  multiaddrs(): string[] {
    return this.#libp2p.getMultiaddrs().map((ma) => ma.toString())
  }

  connectedPeers(): string[] {
    return [...this.#connected]
  }

  async start(handlers: HostHandlers): Promise<void> {
    if (this.#state !== 'created') throw new HostNotRunningError(`start() called on a ${this.#state} host`)
    this.#handlers = handlers
    const { pubsub, peerExchange } = this.#libp2p.services
    const cap = this.#opts.maxMessageBytes
    // Everything is wired before libp2p starts, so no early connection, stream or message is missed.
    await this.#libp2p.handle(this.#opts.rpcProtocol, this.#channels.handler((from, data) => handlers.onRequest(from, data)),
      { maxInboundStreams: CHANNEL_STREAMS_PER_CONNECTION, maxOutboundStreams: CHANNEL_STREAMS_PER_CONNECTION })
    pubsub.topicValidators.set(this.#opts.topic, (_peer, msg) =>
      msg.data.byteLength > cap ? TopicValidatorResult.Reject : TopicValidatorResult.Accept)
    pubsub.topicValidators.set(eventsTopic(this.#opts.topic), (_peer, msg) =>
      msg.data.byteLength > cap ? TopicValidatorResult.Reject : TopicValidatorResult.Accept)
    pubsub.topicValidators.set(discoveryTopic(this.#opts.topic), (_peer, msg) =>
      msg.data.byteLength > PEER_EXCHANGE_MAX_BYTES ? TopicValidatorResult.Reject : TopicValidatorResult.Accept)
    pubsub.addEventListener('message', this.#onMessage)
    pubsub.addEventListener('subscription-change', this.#onSubscriptionChange)
    peerExchange.addEventListener('peer', this.#onAnnouncement)
    this.#libp2p.addEventListener('peer:discovery', this.#onDiscovery)
    this.#libp2p.addEventListener('peer:connect', this.#onConnect)
    this.#libp2p.addEventListener('peer:disconnect', this.#onDisconnect)
    for (const { peer, addr } of this.#joinTargets) {
      await this.#libp2p.peerStore.merge(peer, { multiaddrs: [addr] })
    }
    this.#state = 'running'
    try {
      await this.#libp2p.start()
    } catch (err) {
      await this.stop()
      throw err
    }
    pubsub.subscribe(this.#opts.topic)
    this.#joinLoop.start()
    this.#log.info({ peerId: this.peerId, addrs: this.multiaddrs() }, 'host started')
  }

  async stop(): Promise<void> {
    if (this.#state === 'stopped') return
    const wasRunning = this.#state === 'running'
    // From here on no handler is called: our own shutdown is not news for the core.
    this.#state = 'stopped'
    this.#joinLoop.stop()
    this.#dialer.stop()
    this.#announcer.stop()
    this.#channels.close()
    const { pubsub, peerExchange } = this.#libp2p.services
    pubsub.removeEventListener('message', this.#onMessage)
    pubsub.removeEventListener('subscription-change', this.#onSubscriptionChange)
    peerExchange.removeEventListener('peer', this.#onAnnouncement)
    this.#libp2p.removeEventListener('peer:discovery', this.#onDiscovery)
    this.#libp2p.removeEventListener('peer:connect', this.#onConnect)
    this.#libp2p.removeEventListener('peer:disconnect', this.#onDisconnect)
    this.#connected.clear()
    if (wasRunning) await this.#libp2p.stop()
    this.#log.info({ peerId: this.peerId }, 'host stopped')
  }

  async publish(data: Uint8Array, topic: 'cluster' | 'events' = 'cluster'): Promise<boolean> {
    this.#assertRunning('publish')
    if (data.byteLength > this.#opts.maxMessageBytes) {
      throw new MessageTooLargeError(`gossip message of ${data.byteLength} bytes exceeds ${this.#opts.maxMessageBytes}`)
    }
    const pubsub = this.#libp2p.services.pubsub
    const name = topic === 'events' ? eventsTopic(this.#opts.topic) : this.#opts.topic
    // Nobody watches: signing a message for nobody is the one cost left, and it is skipped.
    if (topic === 'events' && pubsub.getSubscribers(name).length === 0) return false
    await pubsub.publish(name, data)
    return true
  }

  watchEvents(on: boolean): void {
    if (this.#state !== 'running') return
    const pubsub = this.#libp2p.services.pubsub
    if (on) pubsub.subscribe(eventsTopic(this.#opts.topic))
    else pubsub.unsubscribe(eventsTopic(this.#opts.topic))
  }

  async request(
    peer: string,
    data: Uint8Array,
    opts: { timeoutMs: number; addrs?: string[]; signal?: AbortSignal },
  ): Promise<Uint8Array> {
    this.#assertRunning('request')
    // With a channel open the id was checked and the peer is connected: no parsing (a base58
    // decode per request was ~5% of the cpu at 17k requests/s) and no address hints.
    if (!this.#channels.hasChannel(peer)) {
      let peerId: PeerId
      try {
        peerId = peerIdFromString(peer)
      } catch (err) {
        throw new PeerUnreachableError(`${JSON.stringify(peer)} is not a peer id`, { cause: err })
      }
      const hints = parseAddrHints(opts.addrs ?? [])
      // Address hints matter only for a dial; merging them into the peer store on every request to a
      // connected peer took a write lock and a record rewrite each time (measured: 3-4% of an agent's
      // CPU while jobs move), all for nothing.
      if (hints.length > 0 && !this.#connected.has(peer)) await this.#libp2p.peerStore.merge(peerId, { multiaddrs: hints })
    }
    return this.#channels.request(peer, data, { timeoutMs: opts.timeoutMs, signal: opts.signal })
  }

  async connect(peer: string, addrs: string[]): Promise<void> {
    if (this.#state !== 'running' || this.#connected.has(peer)) return
    const peerId = peerIdFromString(peer)
    const hints = parseAddrHints(addrs)
    if (hints.length > 0) await this.#libp2p.peerStore.merge(peerId, { multiaddrs: hints })
    await this.#libp2p.dial(peerId, { signal: AbortSignal.timeout(CONNECT_TIMEOUT_MS) })
  }

  #assertRunning(what: string): void {
    if (this.#state !== 'running') throw new HostNotRunningError(`${what}() on a ${this.#state} host`)
  }

  readonly #onMessage = (evt: CustomEvent<Message>): void => {
    const msg = evt.detail
    if (this.#state !== 'running' || msg.type !== 'signed') return
    if (msg.topic !== this.#opts.topic && msg.topic !== eventsTopic(this.#opts.topic)) return
    try {
      this.#handlers?.onGossip(msg.from.toString(), plainBytes(msg.data))
    } catch (err) {
      this.#log.error({ err }, 'onGossip handler threw')
    }
  }

  /**
   * A peer subscribed to the exchange topic. If it is our only such neighbour we just joined (or
   * rejoined after being cut off): announce ourselves once, through it, and every member that
   * hears it dials in. Members do not re-announce for each newcomer (see AnnounceThrottle).
   */
  readonly #onSubscriptionChange = (evt: CustomEvent<SubscriptionChangeData>): void => {
    if (this.#state !== 'running') return
    const exchangeTopic = discoveryTopic(this.#opts.topic)
    if (!evt.detail.subscriptions.some((s) => s.subscribe && s.topic === exchangeTopic)) return
    const neighbours = this.#libp2p.services.pubsub.getSubscribers(exchangeTopic)
    if (neighbours.length === 1 && neighbours[0]?.equals(evt.detail.peerId) === true) this.#announcer.trigger()
  }

  /**
   * Every peer-exchange announcement, including repeats: libp2p's own peer:discovery fires only
   * for peers new to the peer store, so a failed first dial or a peer that came back would never
   * be retried. Repeats are cheap: the dialer skips connected, in-flight and backed-off peers.
   */
  readonly #onAnnouncement = (evt: CustomEvent<PeerInfo>): void => {
    if (this.#state !== 'running') return
    const { id, multiaddrs } = evt.detail
    if (id.equals(this.#libp2p.peerId) || this.#connected.has(id.toString())) return
    this.#libp2p.peerStore.merge(id, { multiaddrs })
      .then(() => { this.#dialer.consider(id) })
      .catch((err: unknown) => { this.#log.debug({ err }, 'could not record announced peer') })
  }

  /** Peers found any other way (mDNS, or a peer that connected to us). */
  readonly #onDiscovery = (evt: CustomEvent<PeerInfo>): void => {
    if (this.#state === 'running') this.#dialer.consider(evt.detail.id)
  }

  readonly #onConnect = (evt: CustomEvent<PeerId>): void => {
    const key = evt.detail.toString()
    if (this.#state !== 'running' || this.#connected.has(key)) return
    this.#connected.add(key)
    this.#dialer.connected(evt.detail)
    try {
      this.#handlers?.onPeerConnected(key)
    } catch (err) {
      this.#log.error({ err }, 'onPeerConnected handler threw')
    }
  }

  readonly #onDisconnect = (evt: CustomEvent<PeerId>): void => {
    const key = evt.detail.toString()
    // libp2p can report a disconnect for a connection it never announced (closed during
    // upgrade); the set keeps connect/disconnect strictly paired for the core.
    if (this.#state !== 'running' || !this.#connected.delete(key)) return
    this.#joinLoop.disconnected(evt.detail)
    try {
      this.#handlers?.onPeerDisconnected(key)
    } catch (err) {
      this.#log.error({ err }, 'onPeerDisconnected handler threw')
    }
  }
}

function parseAddrHints(addrs: readonly string[]): Multiaddr[] {
  const out: Multiaddr[] = []
  for (const text of addrs) {
    try {
      out.push(multiaddr(text))
    } catch {
      // A bad hint is skipped: the peer store may still know a good address.
    }
  }
  return out
}
