// The wire format of the per-peer channel (/murmur/chan/1.0.0), and its streaming decoder.
//
// A channel is one long-lived libp2p stream that carries many requests and their responses. Each
// message is one frame:
//   varint(length) ++ type (1 byte) ++ correlation id (4 bytes, big-endian) ++ body
// where length counts type + id + body. Types:
//   0 REQUEST              body = the request                       (requester -> server)
//   1 RESPONSE_OK          body = the handler's response            (server -> requester)
//   2 RESPONSE_TOO_LARGE   body = utf-8 reason: the request frame was over the server's cap
//   3 RESPONSE_FAILED      body = utf-8 reason: the server's handler threw, answered too much,
//                          or did not answer in time
// The response types let a requester tell "the peer refused this request" from "the peer is gone"
// (the stream or its connection closed): only the latter is evidence for the failure detector.
//
// A frame over the reader's cap is skipped, not buffered: the reader takes its type and id and
// discards the body as it arrives, so one oversized request (or response) is refused on its own
// while the channel goes on serving the others.
import { Uint8ArrayList } from 'uint8arraylist'
import * as varint from 'uint8-varint'

export const FRAME_REQUEST = 0
export const FRAME_RESPONSE_OK = 1
export const FRAME_RESPONSE_TOO_LARGE = 2
export const FRAME_RESPONSE_FAILED = 3

/** Type byte and correlation id. */
export const FRAME_HEADER_BYTES = 5

/** A varint prefix longer than this cannot be a length we would accept (2^35 > any cap). */
const MAX_PREFIX_BYTES = 5

/** Correlation ids are u32 and wrap. */
export const MAX_CORRELATION_ID = 0xffff_ffff

/** One frame off the wire. `body` is absent when the frame was over the cap and skipped. */
export type DecodedFrame =
  | { type: number; id: number; body: Uint8Array; oversized?: undefined }
  | { type: number; id: number; body?: undefined; oversized: number }

/** The peer sent bytes that are not frames of this protocol: the channel cannot go on. */
export class ChannelProtocolError extends Error {
  override name = 'ChannelProtocolError'
}

/**
 * One encoded frame as two parts (prefix+header, body), so the body is never copied: the writer
 * hands both to the stream in one batch.
 */
export interface EncodedFrame {
  head: Uint8Array
  body: Uint8Array
  bytes: number
}

export function encodeFrame(type: number, id: number, body: Uint8Array): EncodedFrame {
  const length = FRAME_HEADER_BYTES + body.byteLength
  const prefixBytes = varint.encodingLength(length)
  const head = new Uint8Array(prefixBytes + FRAME_HEADER_BYTES)
  varint.encode(length, head, 0)
  head[prefixBytes] = type
  new DataView(head.buffer, head.byteOffset, head.byteLength).setUint32(prefixBytes + 1, id)
  return { head, body, bytes: head.byteLength + body.byteLength }
}

/**
 * Turns stream chunks into frames. Holds at most one frame (up to the cap) plus one chunk; bodies
 * over `maxBodyBytes` are reported with their size and discarded as they stream past.
 */
export class FrameDecoder {
  readonly #buffer = new Uint8ArrayList()
  readonly #maxBodyBytes: number
  /** Bytes of an oversized frame's body still to discard. */
  #skip = 0

  constructor(maxBodyBytes: number) {
    this.#maxBodyBytes = maxBodyBytes
  }

  /** Bytes held for a frame not yet complete. */
  get bufferedBytes(): number {
    return this.#buffer.byteLength
  }

  /** Feeds one chunk; returns the frames it completed. Throws ChannelProtocolError on garbage. */
  push(chunk: Uint8Array | Uint8ArrayList): DecodedFrame[] {
    const out: DecodedFrame[] = []
    let data: Uint8Array | Uint8ArrayList = chunk
    if (this.#skip > 0) {
      const n = Math.min(this.#skip, data.byteLength)
      this.#skip -= n
      if (n === data.byteLength) return out
      data = data instanceof Uint8Array ? data.subarray(n) : data.sublist(n)
    }
    this.#buffer.append(data)
    for (;;) {
      const frame = this.#next()
      if (frame === undefined) return out
      out.push(frame)
    }
  }

  #next(): DecodedFrame | undefined {
    const buffer = this.#buffer
    if (this.#skip > 0) {
      const n = Math.min(this.#skip, buffer.byteLength)
      buffer.consume(n)
      this.#skip -= n
      if (this.#skip > 0) return undefined
    }
    const prefixBytes = prefixLength(buffer)
    if (prefixBytes === 0) return undefined
    const length = varint.decode(buffer)
    if (length < FRAME_HEADER_BYTES) throw new ChannelProtocolError(`frame of ${length} bytes is shorter than its header`)
    if (buffer.byteLength < prefixBytes + FRAME_HEADER_BYTES) return undefined
    const type = buffer.get(prefixBytes)
    const id = buffer.getUint32(prefixBytes + 1)
    const bodyBytes = length - FRAME_HEADER_BYTES
    if (bodyBytes > this.#maxBodyBytes) {
      const held = Math.min(buffer.byteLength, prefixBytes + length)
      buffer.consume(held)
      this.#skip = prefixBytes + length - held
      return { type, id, oversized: bodyBytes }
    }
    if (buffer.byteLength < prefixBytes + length) return undefined
    const body = plainBytes(buffer.subarray(prefixBytes + FRAME_HEADER_BYTES, prefixBytes + length))
    buffer.consume(prefixBytes + length)
    return { type, id, body }
  }
}

/** Bytes of the complete varint at the start of `buffer`; 0 while it is still incomplete. */
function prefixLength(buffer: Uint8ArrayList): number {
  const available = Math.min(buffer.byteLength, MAX_PREFIX_BYTES)
  for (let i = 0; i < available; i++) {
    if ((buffer.get(i) & 0x80) === 0) return i + 1
  }
  if (available === MAX_PREFIX_BYTES) throw new ChannelProtocolError('frame length prefix is too long')
  return 0
}

/**
 * A plain Uint8Array view of the same memory. Frames read off a socket are often Node Buffers;
 * the core should see one type everywhere (equality, structuredClone, JSON all differ for Buffer).
 */
export function plainBytes(data: Uint8Array): Uint8Array {
  return data.constructor === Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
}
