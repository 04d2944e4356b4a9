// Versioned names. A breaking change of a message shape bumps the version, so old and new nodes
// ignore each other's messages instead of misreading them.

/** Gossipsub topic for membership records. */
export const CLUSTER_TOPIC = '/murmur/cluster/2'

/**
 * The event stream beside a cluster (or cell) topic: activity digests (src/core/activity.ts).
 * Only a node that someone watches (/v1/events) joins it, so a cluster nobody watches pays
 * nothing for it; a node publishes there only while some peer has joined.
 */
export function eventsTopic(clusterTopic: string): string {
  return `${clusterTopic}/events`
}

/** Which topic a gossip message goes on: activity digests on the event stream, the rest on the cluster topic. */
export function topicFor(type: 'records' | 'activity', clusterTopic: string): string {
  return type === 'activity' ? eventsTopic(clusterTopic) : clusterTopic
}

/**
 * Largest gossip message we publish or accept. A record is ~400 bytes, and a batch carries a few;
 * 64 KiB leaves room for large label sets while keeping a bad peer from making us parse megabytes.
 */
export const MAX_GOSSIP_BYTES = 64 * 1024
/**
 * Largest rpc frame. A push-pull sync carries the whole member table (~400 B per node): 4 MiB is
 * ~10,000 nodes. Past that the protocol needs partial views (see the simulator issue).
 */
export const MAX_RPC_BYTES = 4 * 1024 * 1024

/**
 * Share of non-mesh topic peers that get IHAVE gossip each heartbeat (the library's default is
 * 0.25; at least Dlazy = 6 get it either way). Authors flood-publish to every connected peer and
 * the push-pull sync repairs what gossip loses, so lazy gossip to a quarter of up to 300 peers
 * bought no delivery and cost most of the idle bytes: in the simulator at 100 nodes, 18 of 41
 * KB/s per node idle and 386 of 1,075 KB/s under load. The simulator models the same value.
 */
export const GOSSIP_FACTOR = 0

/**
 * Backstop period of the peer-exchange announcements (pubsub-peer-discovery). A node announces
 * when it gains its first exchange-topic neighbour (see AnnounceThrottle in src/node/discovery.ts),
 * which is what builds the connection mesh; the periodic announcement only repairs what that one
 * missed. Every announcement reaches every node (~8 copies of ~230 B), so at 30 s it was the
 * largest idle cost: 6 of 13.6 KB/s per node at 100 nodes in the simulator, ~60 KB/s at 1,000.
 * Membership now covers what it repaired: every probe and sync dials the member it needs, and a
 * push-pull with a random dead member every reconnectIntervalMs merges the halves of a healed
 * partition. So the backstop is long. The simulator models the same value.
 */
export const PEER_EXCHANGE_BACKSTOP_MS = 10 * 60_000

/**
 * Period of yamux's keepalive ping on every connection (the library's default is 30 s). Nothing
 * of ours reads it: the library does not close a connection whose ping goes unanswered, failure
 * detection is membership's, and half-open connections are found by the channels (liveness.ts).
 * All it does is keep an idle connection from looking idle to a NAT or a load balancer, whose
 * idle limits are minutes (AWS NLB 350 s, Azure LB 4 min, GCP 10 min; RFC 5382 asks NATs for
 * 2 h), so 2 minutes is short enough. At 30 s it was ~9% of an idle 5-node agent's frames (a ping
 * each way per connection and its answer; perf put 1.4% of the agent's CPU in yamux's ping task
 * and ping handling alone, before the frames' reads and writes). The simulator models the same
 * value.
 */
export const YAMUX_KEEPALIVE_MS = 2 * 60_000
