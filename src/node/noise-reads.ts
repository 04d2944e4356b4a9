// Noise reads without an exception per socket read. @libp2p/noise (17) cuts what the socket
// delivers into noise messages with @libp2p/utils' LengthPrefixedDecoder. The decoder loops:
// read the 2-byte length, take the message if it is all there, again. Its length reader throws a
// RangeError when fewer than 2 bytes are buffered, which the loop catches as "wait for more".
// After the last whole message of a read the buffer is almost always empty, so every read on
// every connection built an Error and captured its stack trace: 4% of an agent's CPU in a
// throughput run (`perf record -a -g`: Builtin_ErrorConstructor and stack capture under
// `decode`, called from `noiseOnMessageDecrypt`).
//
// The length reader of each secured connection's decoder is wrapped to answer 0 for a buffer
// shorter than the prefix. The loop then sees a message (prefix + 0 bytes = 2 bytes) that has
// not fully arrived and stops, as it did on the throw; nothing is consumed or yielded. Longer
// buffers go to the library's reader. The decoder's fields are private in its types, so their
// shape is checked first: a library change that renames them leaves connections as they are.
import type { ConnectionEncrypter, SecuredConnection } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'
import { wrapEncrypter } from './encrypter-wrap.js'

/** The members of LengthPrefixedDecoder that are read and replaced. */
interface PrefixDecoder {
  lengthDecoder(data: Uint8ArrayList | Uint8Array): number
  encodingLength(length: number): number
}

/** Marks a decoder whose length reader answers short buffers without a throw (tests read it). */
export const QUIET_SHORT_READS = Symbol('murmur.quietShortReads')

function isPrefixDecoder(decoder: unknown): decoder is PrefixDecoder & Record<symbol, unknown> {
  const d = decoder as Partial<PrefixDecoder> | undefined
  return typeof d?.lengthDecoder === 'function' && typeof d.encodingLength === 'function'
}

/**
 * Wraps the length reader of one decoder (once). Only a fixed-size prefix qualifies: with a
 * varint prefix a short buffer may already hold a whole length. Returns whether it applies.
 */
export function quietShortReads(decoder: unknown): boolean {
  if (!isPrefixDecoder(decoder)) return false
  if (decoder[QUIET_SHORT_READS] === true) return true
  const prefix = decoder.encodingLength(0)
  if (!Number.isInteger(prefix) || prefix < 1 || decoder.encodingLength(0xffff) !== prefix) return false
  const read = decoder.lengthDecoder.bind(decoder)
  decoder.lengthDecoder = (data) => (data.byteLength < prefix ? 0 : read(data))
  Object.defineProperty(decoder, QUIET_SHORT_READS, { value: true })
  return true
}

function withQuietReads<Extension>(secured: SecuredConnection<Extension>): SecuredConnection<Extension> {
  quietShortReads((secured.connection as { decoder?: unknown }).decoder)
  return secured
}

/**
 * A connection encrypter whose secured connections read without the throw. The wrap happens as
 * the handshake resolves, before the connection's first read after it (reads are later events).
 */
export function quietReadsEncrypter<Components, Extension>(
  make: (components: Components) => ConnectionEncrypter<Extension>,
): (components: Components) => ConnectionEncrypter<Extension> {
  return wrapEncrypter(make, { secured: withQuietReads })
}
