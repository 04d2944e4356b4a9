// The serving end of a channel: a peer's long-lived inbound stream, on which it sends us requests
// and we answer each one, in whatever order the handler finishes, under the request's
// correlation id. Every request gets exactly one response frame: OK, TOO_LARGE (its frame was
// over our cap: refused without reading it, the channel goes on) or FAILED (the handler threw,
// answered too much, or did not answer within RPC_SERVE_TIMEOUT_MS).
import { fromString as bytesFromString } from 'uint8arrays/from-string'
import type { Connection, Stream, StreamCloseEvent, StreamHandler, StreamMessageEvent } from '@libp2p/interface'
import type { Logger } from 'pino'
import {
  ChannelProtocolError,
  encodeFrame,
  FrameDecoder,
  FRAME_REQUEST,
  FRAME_RESPONSE_FAILED,
  FRAME_RESPONSE_OK,
  FRAME_RESPONSE_TOO_LARGE,
  type DecodedFrame,
} from './channel-frames.js'
import { FrameWriter } from './channel-writer.js'
import { shortId, trace, tracing } from './lat-trace.js'

/**
 * Longest the server waits for its handler to answer one request before answering FAILED itself.
 * Longer than any client deadline the core uses (a few seconds), so a slow but legitimate handler
 * is never cut off; it only stops a handler that never settles from holding a slot forever.
 */
export const RPC_SERVE_TIMEOUT_MS = 30_000

/**
 * Requests one peer may have in our handlers at once. Past it we stop reading its stream (the
 * muxer stops granting it send window), so a burst queues at the sender instead of failing: a
 * refused request would look like an unreachable peer.
 */
export const MAX_SERVED_PER_STREAM = 256

/**
 * How much a paused stream may buffer. Pausing stops window updates, but the peer may still send
 * what its current window allows (yamux grows it up to 16 MiB for a fast stream); over this the
 * muxer resets the stream, so it must be above that window plus one frame.
 */
const YAMUX_MAX_WINDOW_BYTES = 16 * 1024 * 1024

/** Error reasons sent back to a requester are cut to this many characters: a hint, not a log. */
const MAX_REASON_CHARS = 512

export interface ChannelServerOptions {
  maxMessageBytes: number
  onRequest(from: string, data: Uint8Array): Promise<Uint8Array>
  log: Logger
  /** Defaults to RPC_SERVE_TIMEOUT_MS (tests shorten it). */
  serveTimeoutMs?: number
}

/** The stream handler for the channel protocol: serves one peer's stream until it closes. */
export function createChannelHandler(opts: ChannelServerOptions): StreamHandler {
  return (stream: Stream, connection: Connection): void => {
    new InboundChannel(stream, connection.remotePeer.toString(), opts).start()
  }
}

class InboundChannel {
  readonly #stream: Stream
  readonly #from: string
  readonly #opts: ChannelServerOptions
  readonly #decoder: FrameDecoder
  readonly #writer: FrameWriter
  #serving = 0
  /** Requests that arrived in the chunk that filled our slots: served as slots free up. */
  #backlog: Array<{ id: number; body: Uint8Array }> = []
  #paused = false
  #requesterDone = false
  #closed = false

  constructor(stream: Stream, from: string, opts: ChannelServerOptions) {
    this.#stream = stream
    this.#from = from
    this.#opts = opts
    this.#decoder = new FrameDecoder(opts.maxMessageBytes)
    // A requester that stops reading our answers while sending more requests fills this; then
    // the stream is reset (its requests fail on its side, its pending handlers still finish here).
    this.#writer = new FrameWriter(stream, Math.max(1024 * 1024, 4 * opts.maxMessageBytes), (err) => { this.#abort(err) }, `resp>${shortId(from)}`)
    stream.maxReadBufferLength = YAMUX_MAX_WINDOW_BYTES + 2 * opts.maxMessageBytes
  }

  start(): void {
    this.#stream.addEventListener('message', this.#onMessage)
    this.#stream.addEventListener('close', this.#onClose)
    this.#stream.addEventListener('remoteCloseWrite', this.#onRemoteCloseWrite)
  }

  readonly #onMessage = (evt: StreamMessageEvent): void => {
    if (tracing) trace(`channel-request-in <${shortId(this.#from)} ${evt.data.byteLength}B`)
    let frames: DecodedFrame[]
    try {
      frames = this.#decoder.push(evt.data)
    } catch (err) {
      this.#abort(err as Error)
      return
    }
    for (const frame of frames) {
      if (this.#closed) return
      if (frame.type !== FRAME_REQUEST) {
        this.#abort(new ChannelProtocolError(`unexpected frame type ${frame.type} from ${this.#from}`))
        return
      }
      if (frame.oversized !== undefined) {
        this.#opts.log.warn({ from: this.#from, bytes: frame.oversized, cap: this.#opts.maxMessageBytes }, 'rejected rpc request over the size cap')
        this.#respond(frame.id, FRAME_RESPONSE_TOO_LARGE, reason(`request frame of ${frame.oversized} bytes exceeds ${this.#opts.maxMessageBytes} bytes`))
      } else if (this.#serving >= MAX_SERVED_PER_STREAM) {
        this.#backlog.push({ id: frame.id, body: frame.body })
      } else {
        this.#serve(frame.id, frame.body)
      }
    }
  }

  #serve(id: number, request: Uint8Array): void {
    this.#serving++
    if (this.#serving >= MAX_SERVED_PER_STREAM && !this.#paused && this.#stream.readStatus === 'readable') {
      this.#paused = true
      this.#stream.pause()
    }
    let answered = false
    const finish = (type: number, body: Uint8Array): void => {
      if (answered) return
      answered = true
      clearTimeout(timer)
      this.#serving--
      this.#respond(id, type, body)
      const next = this.#closed ? undefined : this.#backlog.shift()
      if (next !== undefined) this.#serve(next.id, next.body)
      if (this.#paused && this.#backlog.length === 0 && this.#serving < MAX_SERVED_PER_STREAM / 2 && this.#stream.readStatus === 'paused') {
        this.#paused = false
        this.#stream.resume()
      }
      if (this.#requesterDone && this.#serving === 0 && this.#backlog.length === 0) this.#finishGracefully()
    }
    const limitMs = this.#opts.serveTimeoutMs ?? RPC_SERVE_TIMEOUT_MS
    const timer = setTimeout(() => {
      this.#opts.log.warn({ from: this.#from, limitMs }, 'rpc handler did not answer in time')
      finish(FRAME_RESPONSE_FAILED, reason(`handler did not answer within ${limitMs} ms`))
    }, limitMs)
    let pending: Promise<Uint8Array>
    try {
      pending = this.#opts.onRequest(this.#from, request)
    } catch (err) {
      pending = Promise.reject(err)
    }
    pending.then((body) => {
      if (body.byteLength > this.#opts.maxMessageBytes) {
        this.#opts.log.error({ from: this.#from, bytes: body.byteLength, cap: this.#opts.maxMessageBytes }, 'rpc response over the size cap')
        finish(FRAME_RESPONSE_FAILED, reason(`response of ${body.byteLength} bytes exceeds ${this.#opts.maxMessageBytes}`))
      } else {
        finish(FRAME_RESPONSE_OK, body)
      }
    }, (err: unknown) => {
      this.#opts.log.warn({ err, from: this.#from }, 'rpc handler failed')
      finish(FRAME_RESPONSE_FAILED, reason(`handler failed: ${err instanceof Error ? err.message : String(err)}`))
    })
  }

  #respond(id: number, type: number, body: Uint8Array): void {
    if (this.#closed) return
    if (this.#writer.enqueue(encodeFrame(type, id, body)) === undefined) {
      this.#abort(new Error(`${this.#from} does not read its responses (${this.#writer.queuedBytes} bytes queued)`))
    }
  }

  /** The requester closed its side: answer what is in progress, then close ours. */
  readonly #onRemoteCloseWrite = (): void => {
    this.#requesterDone = true
    if (this.#serving === 0) this.#finishGracefully()
  }

  #finishGracefully(): void {
    if (this.#closed) return
    // Give the writer's last batch this turn to leave, then half-close.
    setImmediate(() => {
      if (this.#closed) return
      this.#stream.close().catch((err: unknown) => { this.#abort(err instanceof Error ? err : new Error(String(err))) })
    })
  }

  readonly #onClose = (evt: StreamCloseEvent): void => {
    if (evt.error !== undefined) this.#opts.log.debug({ err: evt.error, from: this.#from }, 'channel from peer closed')
    this.#shutDown()
  }

  #abort(err: Error): void {
    if (this.#closed) return
    this.#opts.log.debug({ err, from: this.#from }, 'resetting channel from peer')
    this.#shutDown()
    this.#stream.abort(err)
  }

  /** Handlers still running finish on their own; their answers are dropped. */
  #shutDown(): void {
    if (this.#closed) return
    this.#closed = true
    this.#backlog = []
    this.#writer.close()
    this.#stream.removeEventListener('message', this.#onMessage)
    this.#stream.removeEventListener('remoteCloseWrite', this.#onRemoteCloseWrite)
  }
}

function reason(text: string): Uint8Array {
  return bytesFromString(text.slice(0, MAX_REASON_CHARS))
}
