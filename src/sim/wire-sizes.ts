// What one message costs on a real murmur connection, in bytes, on top of the payload the codec
// produced. Derived from the protobuf and framing of the stack the agent runs (libp2p 3, noise,
// yamux, @libp2p/gossipsub 17 with StrictSign and ed25519 keys); approximate to a few bytes per
// frame, and checked against a real 20-node run (docs/simulator.md).
import { YAMUX_KEEPALIVE_MS } from '../gossip/topics.js'

/** varint length of n (protobuf and length prefixes). */
export function varintLen(n: number): number {
  let len = 1
  while (n >= 128) { n = Math.floor(n / 128); len++ }
  return len
}

/** A length-delimited protobuf field: tag byte, length varint, body. */
export function field(bodyLen: number): number {
  return 1 + varintLen(bodyLen) + bodyLen
}

/**
 * Per frame on a connection: yamux header (12 bytes) and noise (2-byte length + 16-byte
 * ChaCha20-Poly1305 tag). One gossipsub RPC or one rpc-stream write is one frame.
 */
export const CONNECTION_FRAME_BYTES = 12 + 2 + 16

/** An ed25519 peer id as bytes (identity multihash of the 36-byte protobuf public key). */
const PEER_ID_BYTES = 38
const PUBLIC_KEY_PROTOBUF_BYTES = 36
const SIGNATURE_BYTES = 64
const SEQNO_BYTES = 8

/** gossipsub's message id under StrictSign: protobuf public key ++ 8-byte seqno (msgIdFnStrictSign). */
export const MESSAGE_ID_BYTES = PUBLIC_KEY_PROTOBUF_BYTES + SEQNO_BYTES

/**
 * One signed gossipsub Message: from, data, seqno, topic, signature, key. The key is sent even
 * for ed25519, whose public key is inlined in the peer id (buildRawMessage always sets it).
 */
export function gossipMessageBytes(topicLen: number, dataLen: number): number {
  return field(PEER_ID_BYTES) + field(dataLen) + field(SEQNO_BYTES) + field(topicLen) + field(SIGNATURE_BYTES) + field(PUBLIC_KEY_PROTOBUF_BYTES)
}

/** One gossipsub RPC frame carrying these messages (publish field each), length-prefixed, framed. */
export function gossipFrameBytes(messageBytes: readonly number[]): number {
  let rpc = 0
  for (const m of messageBytes) rpc += field(m)
  return varintLen(rpc) + rpc + CONNECTION_FRAME_BYTES
}

/** A control-only RPC frame: RPC{control{<kind>{...}}}. */
function controlFrame(inner: number): number {
  const control = field(inner)
  return varintLen(control) + control + CONNECTION_FRAME_BYTES
}

/** IHAVE for one topic with n message ids. */
export function ihaveFrameBytes(topicLen: number, ids: number): number {
  return controlFrame(field(field(topicLen) + ids * field(MESSAGE_ID_BYTES)))
}

/** IWANT with n message ids. */
export function iwantFrameBytes(ids: number): number {
  return controlFrame(field(ids * field(MESSAGE_ID_BYTES)))
}

/** IDONTWANT (gossipsub v1.2) with n message ids. */
export function idontwantFrameBytes(ids: number): number {
  return controlFrame(field(ids * field(MESSAGE_ID_BYTES)))
}

/** GRAFT for one topic. */
export function graftFrameBytes(topicLen: number): number {
  return controlFrame(field(field(topicLen)))
}

/** PRUNE for one topic with a backoff (no peer exchange: murmur runs with doPX off). */
export function pruneFrameBytes(topicLen: number): number {
  return controlFrame(field(field(topicLen) + 1 + varintLen(60)))
}

/**
 * One request or response on the long-lived per-peer channel (src/node/channel-frames.ts): a
 * frame of varint length, type byte, 4-byte correlation id and body, in one yamux data frame (one
 * noise message), and the window update yamux sends back for it: 2 connection frames. (Writes
 * coalesced in one event-loop turn share frames; not modelled: a small overcount under load.)
 */
export function rpcRequestBytes(payload: number): number {
  return 2 * CONNECTION_FRAME_BYTES + varintLen(payload + 5) + 5 + payload
}

export function rpcResponseBytes(payload: number): number {
  return 2 * CONNECTION_FRAME_BYTES + varintLen(payload + 5) + 5 + payload
}

/**
 * The only traffic of an idle connection: yamux's keepalive. Each side pings every
 * YAMUX_KEEPALIVE_MS (a 12-byte frame, 30 bytes once noise framed it) and answers the other's
 * ping, so 60 bytes per period per direction per connection. (libp2p's connection monitor, 15 B/s
 * with its stream per ping, is off: src/node/liveness.ts checks a connection only when a request
 * on it went silent.)
 */
export const KEEPALIVE_BYTES_PER_CONNECTION_PER_SECOND = 60 / (YAMUX_KEEPALIVE_MS / 1000)
