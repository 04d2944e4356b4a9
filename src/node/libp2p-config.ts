// How the cluster host's libp2p node is put together: transports, security, gossipsub tuning and
// connection limits. Pure configuration: it builds an options object and starts nothing.
// Every non-default number says why it has its value.
import { createHash } from 'node:crypto'
import { gossipsub, StrictSign, type GossipSub } from '@libp2p/gossipsub'
import { identify, type Identify } from '@libp2p/identify'
import { mdns } from '@libp2p/mdns'
import { noise } from '@libp2p/noise'
import { preSharedKey } from '@libp2p/pnet'
import { PubSubPeerDiscovery } from '@libp2p/pubsub-peer-discovery'
import { tcp } from '@libp2p/tcp'
import type { Libp2pOptions } from 'libp2p'
import type { FastMsgIdFn } from '@libp2p/gossipsub/types'
import { eventsTopic, GOSSIP_FACTOR, PEER_EXCHANGE_BACKSTOP_MS, YAMUX_KEEPALIVE_MS } from '../gossip/topics.js'
import { JOIN_DIAL_TIMEOUT_MS } from './discovery.js'
import type { HostOptions } from './host.js'
import { quietReadsEncrypter } from './noise-reads.js'
import { oneWriteEncrypter } from './one-write.js'
import { lazyWindowYamux } from './yamux-window.js'

/**
 * The services the host runs; `pubsub` is the name pubsub-peer-discovery looks for. A type
 * alias, not an interface: libp2p's ServiceMap needs the implicit index signature.
 */
export type HostServices = {
  identify: Identify
  pubsub: GossipSub
  /**
   * pubsub-peer-discovery, run as a service (not a peerDiscovery module) so the host hears every
   * announcement, not just first sightings, and can make it announce on demand (see host.ts).
   */
  peerExchange: PubSubPeerDiscovery
}

/**
 * Peers announce themselves (public key + addresses) on this topic so that joining one node
 * leads to a full mesh. Derived from the cluster topic, so two clusters never exchange peers.
 */
export function discoveryTopic(clusterTopic: string): string {
  return `${clusterTopic}/peer-discovery`
}

/**
 * libp2p refuses a host's inbound connections beyond 5 per second by default. At cluster start
 * every node dials the seed and then, within a second, every node it hears about; on a shared
 * NAT or in `murmur up` that is tens of connections per second from one address.
 */
const INBOUND_CONNECTIONS_PER_SECOND = 100

/** Handshakes in progress at once (default 10): the same join storm, before upgrade completes. */
const MAX_INCOMING_PENDING_CONNECTIONS = 100

/**
 * libp2p's own budgets for a dial (6 s per address, 10 s in all) and for an inbound upgrade
 * (10 s). Each caller of ours passes its own abort signal with the budget it means (a join dial,
 * discovery.ts; a request channel, channel-registry.ts), so libp2p's must not be the shorter
 * one: with 50 agents joining one on a 2-core machine, the seed needed more than 6 s to finish
 * a handshake, every joiner gave up at 6 s and started over, and the seed's work was thrown away
 * (nobody joined for 20 s). Our longest budget is the join's (JOIN_DIAL_TIMEOUT_MS).
 */
const LIBP2P_DIAL_BUDGET_MS = JOIN_DIAL_TIMEOUT_MS

/**
 * gossipsub decodes whole RPC frames, and one frame can carry several messages (an IWANT reply
 * bundles every message asked for) plus piggybacked control. So the frame cap is several
 * messages' worth, never below gossipsub's own 4 MiB default; the per-message cap
 * (maxMessageBytes) is enforced by a topic validator in host.ts.
 */
const GOSSIP_MESSAGES_PER_FRAME = 8
const GOSSIP_FRAME_SLACK_BYTES = 64 * 1024
const GOSSIP_DEFAULT_FRAME_BYTES = 4 * 1024 * 1024

export function gossipFrameCap(maxMessageBytes: number): number {
  return Math.max(GOSSIP_DEFAULT_FRAME_BYTES, maxMessageBytes * GOSSIP_MESSAGES_PER_FRAME + GOSSIP_FRAME_SLACK_BYTES)
}

/**
 * Without a fast id every duplicate copy of a message is signature-checked before being
 * dropped (measured: p50/p99 73/348 ms -> 13/57 ms at 15 msg/s with it). The id covers author,
 * sequence number and data: hashing data alone would merge two peers' identical payloads, and
 * leaving data out would let a forged copy that arrives first shadow the real message.
 */
export const fastMsgId: FastMsgIdFn = (msg) => {
  const hash = createHash('sha256')
  if (msg.from !== undefined) hash.update(msg.from)
  if (msg.seqno !== undefined) hash.update(msg.seqno)
  if (msg.data !== undefined) hash.update(msg.data)
  return hash.digest('base64')
}

function listenAddr(host: string, port: number): string {
  return host.includes(':') ? `/ip6/${host}/tcp/${port}` : `/ip4/${host}/tcp/${port}`
}

export function buildLibp2pOptions(opts: HostOptions): Libp2pOptions<HostServices> {
  const exchangeTopic = discoveryTopic(opts.topic)
  return {
    privateKey: opts.privateKey,
    addresses: { listen: [listenAddr(opts.listenHost, opts.listenPort)] },
    // No socket inactivity timer: yamux's keepalive (a ping frame every YAMUX_KEEPALIVE_MS) writes
    // on every connection, and a write counts as activity, so @libp2p/tcp's 2-minute limit could
    // never fire; its timer was still re-armed on every read and write (~2% of an idle agent's main
    // thread in --cpu-prof).
    transports: [tcp({ inboundSocketInactivityTimeout: 0, outboundSocketInactivityTimeout: 0 })],
    // One socket write per noise message, not one per buffer of it (one-write.ts), and no
    // exception thrown at the end of each socket read (noise-reads.ts).
    connectionEncrypters: [quietReadsEncrypter(oneWriteEncrypter(noise()))],
    // Window updates per half window, not per data frame (yamux-window.ts); a keepalive ping
    // every 2 minutes, not 30 s (YAMUX_KEEPALIVE_MS says why).
    streamMuxers: [lazyWindowYamux({ keepAliveInterval: YAMUX_KEEPALIVE_MS })],
    ...(opts.swarmKey === undefined ? {} : { connectionProtector: preSharedKey({ psk: opts.swarmKey }) }),
    // No @libp2p/bootstrap: it dials each join peer once, without our abort signal, and never
    // retries. The host's JoinLoop (discovery.ts) dials join peers until they answer.
    peerDiscovery: opts.mdns ? [mdns()] : [],
    connectionManager: {
      // Many peers on 127.0.0.1 would trip the per-IP limits; allow-listed addresses skip them.
      allow: opts.colocated ? ['/ip4/127.0.0.0/ipcidr/8'] : [],
      inboundConnectionThreshold: INBOUND_CONNECTIONS_PER_SECOND,
      maxIncomingPendingConnections: MAX_INCOMING_PENDING_CONNECTIONS,
      dialTimeout: LIBP2P_DIAL_BUDGET_MS,
      addressDialTimeout: LIBP2P_DIAL_BUDGET_MS,
      inboundUpgradeTimeout: LIBP2P_DIAL_BUDGET_MS,
    },
    // libp2p's monitor opened a stream on every connection every 10 s to find half-open ones: a
    // quarter of an idle agent's CPU. The channels find them from their own traffic instead, and
    // only when a request went unanswered (liveness.ts). yamux's own keepalive (a ping frame every
    // 2 minutes, no stream) still keeps idle connections from looking idle to NATs and firewalls.
    connectionMonitor: { enabled: false },
    services: {
      identify: identify(),
      pubsub: gossipsub({
        globalSignaturePolicy: StrictSign,
        // publish() must not throw while the node is alone (first node, or a partition).
        allowPublishToZeroTopicPeers: true,
        // Message ids are author+seqno, so a real duplicate publish cannot happen; never throw.
        ignoreDuplicatePublishError: true,
        fastMsgIdFn: fastMsgId,
        gossipFactor: GOSSIP_FACTOR,
        maxInboundDataLength: gossipFrameCap(opts.maxMessageBytes),
        // Remote peers cannot make us track topics we do not use.
        allowedTopics: [opts.topic, exchangeTopic, eventsTopic(opts.topic)],
        // The IP-colocation penalty (>10 peers per IP) emptied the mesh at 25+ nodes on one
        // host (measured); when peers share an IP on purpose it only does harm.
        scoreParams: opts.colocated ? { IPColocationFactorWeight: 0 } : {},
      }),
      peerExchange: (components) => new PubSubPeerDiscovery(components, {
        interval: opts.peerExchangeIntervalMs ?? PEER_EXCHANGE_BACKSTOP_MS,
        topics: [exchangeTopic],
      }),
    },
  }
}
