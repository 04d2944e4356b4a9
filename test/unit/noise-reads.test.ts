// The length reader wrapped by noise-reads.ts, on @libp2p/utils' real LengthPrefixedDecoder set
// up as @libp2p/noise sets it up (a 2-byte big-endian length; a reader that throws a RangeError
// on fewer than 2 bytes, as noise's does): the same messages come out for every way the bytes
// can be cut into reads, and the reader is no longer reached with a short buffer.
import { LengthPrefixedDecoder } from '@libp2p/utils'
import { Uint8ArrayList } from 'uint8arraylist'
import { describe, expect, it } from 'vitest'
import { QUIET_SHORT_READS, quietShortReads } from '../../src/node/noise-reads.js'

/** noise's uint16BEDecode (not exported by @libp2p/noise), counting the throws. */
function uint16Reader(): { read: (data: Uint8ArrayList | Uint8Array) => number; throws: number } {
  const counter = {
    throws: 0,
    read(data: Uint8ArrayList | Uint8Array): number {
      if (data.byteLength < 2) {
        counter.throws++
        throw new RangeError('Could not decode int16BE')
      }
      return data instanceof Uint8Array ? (data[0]! << 8) + data[1]! : data.getUint16(0)
    },
  }
  return counter
}

function noiseLikeDecoder(read: (data: Uint8ArrayList | Uint8Array) => number): LengthPrefixedDecoder {
  return new LengthPrefixedDecoder({ lengthDecoder: read, maxBufferSize: 16 * 1024 * 1024, encodingLength: () => 2 })
}

/** Three messages (one empty, as a 0-length frame is skipped by the decoder) in one byte string. */
function wire(): { bytes: Uint8Array; messages: number[][] } {
  const messages = [[1, 2, 3], [], Array.from({ length: 300 }, (_, i) => i % 256), [9]]
  const parts = messages.flatMap((m) => [m.length >> 8, m.length & 0xff, ...m])
  return { bytes: Uint8Array.from(parts), messages: messages.filter((m) => m.length > 0) }
}

/** Feeds `bytes` in reads that end at each cut; returns every message yielded. */
function decodeAll(decoder: LengthPrefixedDecoder, bytes: Uint8Array, cuts: number[]): number[][] {
  const out: number[][] = []
  let from = 0
  for (const to of [...cuts, bytes.byteLength]) {
    for (const msg of decoder.decode(bytes.subarray(from, to))) out.push([...msg.subarray()])
    from = to
  }
  return out
}

describe('noise reads without a throw', () => {
  it('yields the same messages as the library alone, for every single cut and byte by byte', () => {
    const { bytes, messages } = wire()
    const cutSets = [[], ...Array.from({ length: bytes.byteLength - 1 }, (_, i) => [i + 1]), Array.from({ length: bytes.byteLength - 1 }, (_, i) => i + 1)]
    let libraryThrows = 0
    for (const cuts of cutSets) {
      const plain = uint16Reader()
      const quiet = uint16Reader()
      const decoder = noiseLikeDecoder(quiet.read)
      expect(quietShortReads(decoder)).toBe(true)
      expect(decodeAll(noiseLikeDecoder(plain.read), bytes, cuts)).toEqual(messages)
      expect(decodeAll(decoder, bytes, cuts)).toEqual(messages)
      libraryThrows += plain.throws
      expect(quiet.throws).toBe(0)
    }
    // The library alone throws at the end of every read (the cost this removes).
    expect(libraryThrows).toBeGreaterThanOrEqual(cutSets.length)
  })

  it('wraps once, and leaves a varint prefix or an unknown shape alone', () => {
    const decoder = noiseLikeDecoder(uint16Reader().read)
    expect(quietShortReads(decoder)).toBe(true)
    const wrapped = (decoder as unknown as { lengthDecoder: unknown }).lengthDecoder
    expect(quietShortReads(decoder)).toBe(true)
    expect((decoder as unknown as { lengthDecoder: unknown }).lengthDecoder).toBe(wrapped)
    expect((decoder as unknown as Record<symbol, unknown>)[QUIET_SHORT_READS]).toBe(true)
    // The default (varint) prefix: one byte may already be a whole length.
    expect(quietShortReads(new LengthPrefixedDecoder())).toBe(false)
    expect(quietShortReads({})).toBe(false)
    expect(quietShortReads(undefined)).toBe(false)
  })
})
