// The channel's write side under backpressure, on libp2p's own stream code (@libp2p/utils'
// streamPair: real AbstractMessageStreams over a mock muxer that applies write backpressure).
import type { Stream, StreamMessageEvent } from '@libp2p/interface'
import { streamPair } from '@libp2p/utils'
import { describe, expect, it } from 'vitest'
import { encodeFrame, FRAME_HEADER_BYTES, FRAME_REQUEST } from '../../src/node/channel-frames.js'
import { FrameWriter } from '../../src/node/channel-writer.js'

/** Bytes read from `stream` once `bytes` arrived, or when `ms` passed. */
async function readBytes(stream: Stream, bytes: number, ms: number): Promise<number> {
  let got = 0
  const onMessage = (evt: StreamMessageEvent): void => { got += evt.data.byteLength }
  stream.addEventListener('message', onMessage)
  const deadline = Date.now() + ms
  while (got < bytes && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
  stream.removeEventListener('message', onMessage)
  return got
}

/** How late a 10 ms timer fires: a writer spinning in microtasks never lets it fire. */
async function timerLagMs(): Promise<number> {
  const at = performance.now()
  await new Promise((r) => setTimeout(r, 10))
  return performance.now() - at - 10
}

describe('FrameWriter', () => {
  it('waits for a drain each time the stream asks, without spinning, and delivers every frame', async () => {
    // Each message takes 5 ms on the mock connection, and two queued make it ask for a drain.
    const [outbound, inbound] = await streamPair({ capacity: 2, delay: 5 })
    let drains = 0
    outbound.addEventListener('drain', () => { drains++ })
    // A writer that spins starves this thread, so no timer could end the test: the stream counts
    // how often it is asked whether it needs a drain, and stops a spinning writer by throwing.
    let asked = 0
    const sink = new Proxy(outbound, {
      get(target, prop) {
        if (prop === 'writableNeedsDrain' && ++asked > 100_000) throw new Error('the writer spins on writableNeedsDrain')
        const v: unknown = Reflect.get(target, prop, target)
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
      },
    })
    const failures: Error[] = []
    const writer = new FrameWriter(sink, 1 << 20, (err) => failures.push(err))
    const body = new Uint8Array(1000)
    let sent = 0
    // Two bursts, each past the stream's capacity: the second needs a second drain. @libp2p/utils
    // 7.4 resolves every onDrain() after the first at once, which looped a writer waiting on it.
    for (let burst = 0; burst < 2; burst++) {
      const drainsBefore = drains
      for (let i = 0; i < 20; i++) {
        const frame = encodeFrame(FRAME_REQUEST, burst * 100 + i, body)
        expect(writer.enqueue(frame)).toBeDefined()
        sent += frame.bytes
        // One flush per frame: each is its own stream write.
        await new Promise((r) => setImmediate(r))
      }
      expect(await timerLagMs()).toBeLessThan(1_000)
      // The burst filled the stream, so it asked for a drain: the next burst needs one of its own.
      // At least one, not exactly one: on a loaded machine the mock connection may deliver between
      // two of the burst's writes, and the stream then fills, drains and fills again.
      const deadline = Date.now() + 5_000
      while (drains === drainsBefore && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5))
      expect(drains).toBeGreaterThan(drainsBefore)
    }
    const got = await readBytes(inbound, sent, 5_000)
    expect(got).toBe(sent)
    expect(sent).toBe(40 * (1000 + FRAME_HEADER_BYTES + 2))
    expect(failures).toEqual([])
    expect(asked).toBeLessThan(1_000)
    expect(writer.queuedBytes).toBe(0)
    writer.close()
    await Promise.all([outbound.close(), inbound.close()])
  })
})
