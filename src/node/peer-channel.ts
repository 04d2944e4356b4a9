// The requesting end of a channel: one long-lived outbound stream to one peer that carries every
// request we send it, matched to responses by correlation id (responses may come in any order).
// Each request has its own deadline; when the stream or its connection closes, every request
// still waiting fails as "peer unreachable" at once, and the registry opens a new stream for the
// next one.
import { toString as bytesToString } from 'uint8arrays/to-string'
import type { Stream, StreamCloseEvent, StreamMessageEvent } from '@libp2p/interface'
import type { Logger } from 'pino'
import {
  ChannelProtocolError,
  encodeFrame,
  FrameDecoder,
  FRAME_REQUEST,
  FRAME_RESPONSE_FAILED,
  FRAME_RESPONSE_OK,
  FRAME_RESPONSE_TOO_LARGE,
  MAX_CORRELATION_ID,
  type DecodedFrame,
} from './channel-frames.js'
import { FrameWriter, type QueuedFrame } from './channel-writer.js'
import { shortId, trace, tracing } from './lat-trace.js'
import {
  ChannelBusyError,
  MessageTooLargeError,
  PeerUnreachableError,
  RpcRemoteError,
  RpcTimeoutError,
} from './host-errors.js'

/** Limits of one outbound channel. */
export interface PeerChannelLimits {
  /** Cap of a request body (checked by the registry) and of a response body we accept. */
  maxMessageBytes: number
  /** Requests waiting for an answer at once; past it a request fails at once with ChannelBusyError. */
  maxPending: number
  /** Bytes of requests queued and not yet written; past it likewise. */
  maxQueuedBytes: number
}

interface Pending {
  resolve(body: Uint8Array): void
  reject(err: Error): void
  queued: QueuedFrame
  timer: NodeJS.Timeout
  signal: AbortSignal | undefined
  onAbort: (() => void) | undefined
}

/**
 * A request went unanswered past its deadline and nothing at all came back on the channel since
 * it was sent: the owner checks whether the connection under it is still alive (liveness.ts).
 */
export type SilenceListener = (channel: PeerChannel, stream: Stream) => void

export class PeerChannel {
  readonly peer: string
  readonly #stream: Stream
  readonly #limits: PeerChannelLimits
  readonly #log: Logger
  readonly #decoder: FrameDecoder
  readonly #writer: FrameWriter
  readonly #pending = new Map<number, Pending>()
  readonly #onClosed: (channel: PeerChannel) => void
  readonly #onSilence: SilenceListener | undefined
  #nextId = 1
  #closedBy: Error | undefined
  /** When a frame last arrived (performance.now()). */
  #lastHeardAt = performance.now()

  constructor(
    peer: string, stream: Stream, limits: PeerChannelLimits, log: Logger,
    onClosed: (channel: PeerChannel) => void, onSilence?: SilenceListener,
  ) {
    this.peer = peer
    this.#stream = stream
    this.#limits = limits
    this.#log = log
    this.#onClosed = onClosed
    this.#onSilence = onSilence
    this.#decoder = new FrameDecoder(limits.maxMessageBytes)
    this.#writer = new FrameWriter(stream, limits.maxQueuedBytes, (err) => { this.close(err) }, `req>${shortId(peer)}`)
    stream.addEventListener('message', this.#onMessage)
    stream.addEventListener('close', this.#onClose)
    // The server never closes its side while we hold the channel; if it does, nothing more arrives.
    stream.addEventListener('remoteCloseWrite', this.#onRemoteCloseWrite)
  }

  /** Whether the channel can take requests (false once its stream closed or failed). */
  get open(): boolean {
    return this.#closedBy === undefined
  }

  /** Requests waiting for an answer. */
  get pending(): number {
    return this.#pending.size
  }

  /** Sends one request; resolves to the response body or rejects with one of the host's errors. */
  request(data: Uint8Array, timeoutMs: number, signal?: AbortSignal): Promise<Uint8Array> {
    const describe = `request to ${this.peer}`
    if (this.#closedBy !== undefined) {
      return Promise.reject(new PeerUnreachableError(`${describe}: channel closed: ${this.#closedBy.message}`, { cause: this.#closedBy }))
    }
    if (signal?.aborted === true) return Promise.reject(new RpcTimeoutError(`${describe} was aborted before it was sent`))
    if (this.#pending.size >= this.#limits.maxPending) {
      return Promise.reject(new ChannelBusyError(`${describe}: ${this.#pending.size} requests already wait for this peer`))
    }
    const id = this.#allocateId()
    const queued = this.#writer.enqueue(encodeFrame(FRAME_REQUEST, id, data))
    if (queued === undefined) {
      return Promise.reject(new ChannelBusyError(`${describe}: ${this.#writer.queuedBytes} bytes already queued for this peer`))
    }
    const sentAt = performance.now()
    return new Promise<Uint8Array>((resolve, reject) => {
      const entry: Pending = {
        resolve, reject, queued, signal, onAbort: undefined,
        // The answer may be here already, unread: a process that waited for the CPU runs its
        // timers before it reads its sockets. Time out after the poll phase (setImmediate), so
        // an answer that arrived in time is taken, not counted as a failed probe.
        timer: setTimeout(() => {
          setImmediate(() => {
            this.#settle(id, new RpcTimeoutError(`${describe} timed out (deadline ${timeoutMs} ms)`))
            if (this.#lastHeardAt < sentAt && this.#closedBy === undefined) this.#onSilence?.(this, this.#stream)
          })
        }, timeoutMs),
      }
      if (signal !== undefined) {
        entry.onAbort = () => { this.#settle(id, new RpcTimeoutError(`${describe} was aborted`)) }
        signal.addEventListener('abort', entry.onAbort, { once: true })
      }
      this.#pending.set(id, entry)
    })
  }

  /**
   * Closes the channel: every waiting request fails as unreachable, and the stream is reset (a
   * graceful close would wait for the server, which is what a closing channel no longer does).
   */
  close(err: Error): void {
    if (this.#closedBy !== undefined) return
    this.#closedBy = err
    this.#writer.close()
    this.#stream.removeEventListener('message', this.#onMessage)
    this.#stream.removeEventListener('remoteCloseWrite', this.#onRemoteCloseWrite)
    const failure = new PeerUnreachableError(`request to ${this.peer}: channel closed: ${err.message}`, { cause: err })
    for (const id of [...this.#pending.keys()]) this.#settle(id, failure)
    if (this.#stream.status === 'open' || this.#stream.status === 'closing') this.#stream.abort(err)
    this.#onClosed(this)
  }

  #allocateId(): number {
    // Ids wrap at 2^32; one still waiting (a very long deadline) is skipped, never reused.
    for (;;) {
      const id = this.#nextId
      this.#nextId = id >= MAX_CORRELATION_ID ? 1 : id + 1
      if (!this.#pending.has(id)) return id
    }
  }

  /** Resolves (body) or rejects (error) one request and forgets it; a late second settle is a no-op. */
  #settle(id: number, outcome: Uint8Array | Error): void {
    const entry = this.#pending.get(id)
    if (entry === undefined) return
    this.#pending.delete(id)
    clearTimeout(entry.timer)
    if (entry.onAbort !== undefined) entry.signal?.removeEventListener('abort', entry.onAbort)
    if (outcome instanceof Error) {
      // Not yet written (a deadline that passed while the stream waited for drain): never send it.
      entry.queued.cancel()
      entry.reject(outcome)
    } else {
      entry.resolve(outcome)
    }
  }

  readonly #onMessage = (evt: StreamMessageEvent): void => {
    this.#lastHeardAt = performance.now()
    if (tracing) trace(`channel-response-in <${shortId(this.peer)} ${evt.data.byteLength}B`)
    let frames: DecodedFrame[]
    try {
      frames = this.#decoder.push(evt.data)
    } catch (err) {
      this.close(err as Error)
      return
    }
    for (const frame of frames) this.#onFrame(frame)
  }

  #onFrame(frame: DecodedFrame): void {
    const describe = `request to ${this.peer}`
    if (frame.oversized !== undefined) {
      this.#log.warn({ peer: this.peer, bytes: frame.oversized, cap: this.#limits.maxMessageBytes }, 'rpc response over the size cap')
      this.#settle(frame.id, new MessageTooLargeError(`${describe}: response of ${frame.oversized} bytes exceeds the size cap`))
      return
    }
    switch (frame.type) {
      case FRAME_RESPONSE_OK:
        this.#settle(frame.id, frame.body)
        return
      case FRAME_RESPONSE_TOO_LARGE:
        this.#settle(frame.id, new MessageTooLargeError(`${describe} refused by the peer: ${bytesToString(frame.body)}`))
        return
      case FRAME_RESPONSE_FAILED:
        this.#settle(frame.id, new RpcRemoteError(`${describe}: ${bytesToString(frame.body)}`))
        return
      default:
        // A server sends responses only: anything else means we do not speak the same protocol.
        this.close(new ChannelProtocolError(`unexpected frame type ${frame.type} from ${this.peer}`))
    }
  }

  readonly #onClose = (evt: StreamCloseEvent): void => {
    this.close(evt.error ?? new Error('stream closed'))
  }

  readonly #onRemoteCloseWrite = (): void => {
    this.close(new Error('peer closed its end of the channel'))
  }
}
