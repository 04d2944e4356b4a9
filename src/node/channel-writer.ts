// The write side of a channel stream: frames queued during one event-loop turn leave in one
// stream write (one muxer frame, one encryption, one syscall instead of one per message), the
// queue is bounded in bytes, and nothing is written while the stream asks us to wait for 'drain'.
import { Uint8ArrayList } from 'uint8arraylist'
import type { MessageStream } from '@libp2p/interface'
import type { EncodedFrame } from './channel-frames.js'
import { trace, tracing } from './lat-trace.js'

/**
 * What the writer needs of a libp2p stream (a Stream or any MessageStream): `send`, whether it
 * asks us to wait, its status, and its 'drain' and 'close' events. Not `onDrain()`: in
 * @libp2p/utils 7.4 a stream keeps the promise of its first drain and hands that (resolved)
 * promise to every later wait, so a writer that waited on it again while the stream still needed
 * a drain looped in microtasks and starved its whole agent (seen in chaos: three agents at 100%
 * of a core, silent, for minutes).
 */
export type FrameSink = Pick<MessageStream, 'send' | 'writableNeedsDrain' | 'status' | 'addEventListener' | 'removeEventListener'>

/** A frame waiting for the next flush; `cancel` drops it if it has not been written yet. */
export interface QueuedFrame {
  readonly bytes: number
  cancel(): void
}

/** The stream refused our bytes (closed, reset): the owner closes the channel. */
export type WriteFailure = (err: Error) => void

export class FrameWriter {
  readonly #sink: FrameSink
  readonly #maxQueuedBytes: number
  readonly #onFailure: WriteFailure
  #queue: Array<{ frame: EncodedFrame; cancelled: boolean; flushed: boolean }> = []
  #queuedBytes = 0
  #scheduled: NodeJS.Immediate | undefined
  #waitingForDrain = false
  #closed = false

  /** Names the writer in the latency trace (lat-trace.ts): its direction and peer. */
  readonly #label: string

  constructor(sink: FrameSink, maxQueuedBytes: number, onFailure: WriteFailure, label = '') {
    this.#label = label
    this.#sink = sink
    this.#maxQueuedBytes = maxQueuedBytes
    this.#onFailure = onFailure
  }

  /** Bytes queued and not yet handed to the stream. */
  get queuedBytes(): number {
    return this.#queuedBytes
  }

  /**
   * Queues a frame for the end of this event-loop turn. Returns undefined when the queue is full
   * (the peer is not reading what we already sent) or the writer is closed. One frame is always
   * accepted into an empty queue, whatever its size: the size caps are checked before this.
   */
  enqueue(frame: EncodedFrame): QueuedFrame | undefined {
    if (this.#closed) return undefined
    if (this.#queue.length > 0 && this.#queuedBytes + frame.bytes > this.#maxQueuedBytes) return undefined
    const entry = { frame, cancelled: false, flushed: false }
    this.#queue.push(entry)
    this.#queuedBytes += frame.bytes
    this.#schedule()
    return {
      bytes: frame.bytes,
      cancel: () => {
        if (entry.cancelled || entry.flushed || this.#closed) return
        entry.cancelled = true
        this.#queuedBytes -= frame.bytes
      },
    }
  }

  /** Drops what is queued; nothing more is written. */
  close(): void {
    this.#closed = true
    if (this.#scheduled !== undefined) clearImmediate(this.#scheduled)
    this.#scheduled = undefined
    this.#queue = []
    this.#queuedBytes = 0
  }

  #schedule(): void {
    // setImmediate, not a microtask: it runs after every callback and promise of this turn (the
    // core's step emits many sends; a batch of handlers answers in separate microtasks).
    if (this.#scheduled !== undefined || this.#waitingForDrain) return
    this.#scheduled = setImmediate(() => {
      this.#scheduled = undefined
      this.#flush()
    })
  }

  #flush(): void {
    if (this.#closed || this.#queue.length === 0) return
    if (this.#sink.writableNeedsDrain) {
      this.#waitForDrain()
      return
    }
    const batch = new Uint8ArrayList()
    for (const entry of this.#queue) {
      entry.flushed = true
      if (!entry.cancelled) batch.append(entry.frame.head, entry.frame.body)
    }
    this.#queue = []
    this.#queuedBytes = 0
    if (batch.byteLength === 0) return
    let more: boolean
    if (tracing) trace(`flush ${this.#label} ${batch.byteLength}B`)
    try {
      more = this.#sink.send(batch)
    } catch (err) {
      this.#fail(err)
      return
    }
    if (!more) this.#waitForDrain()
  }

  #waitForDrain(): void {
    if (this.#waitingForDrain) return
    if (this.#sink.status !== 'open') {
      this.#fail(new Error(`stream is ${this.#sink.status}`))
      return
    }
    this.#waitingForDrain = true
    const settle = (err?: Error): void => {
      this.#sink.removeEventListener('drain', onDrain)
      this.#sink.removeEventListener('close', onClose)
      this.#waitingForDrain = false
      if (err !== undefined) this.#fail(err)
      else this.#flush()
    }
    const onDrain = (): void => { settle() }
    const onClose = (): void => { settle(new Error('stream closed while its writes waited for a drain')) }
    this.#sink.addEventListener('drain', onDrain)
    this.#sink.addEventListener('close', onClose)
  }

  #fail(err: unknown): void {
    if (this.#closed) return
    this.close()
    this.#onFailure(err instanceof Error ? err : new Error(String(err)))
  }
}
