// One channel per peer we send requests to: opened on the first request, shared by every request
// after it, and replaced by a fresh one when its stream or connection closes. Also maps failures
// to open a channel onto the host's errors, keeping the one fact the failure detector relies on:
// a dial refused outright (nothing listens there) is PeerUnreachableError with `refused`.
import { peerIdFromString } from '@libp2p/peer-id'
import type { PeerId, Stream } from '@libp2p/interface'
import type { Logger } from 'pino'
import { createChannelHandler, type ChannelServerOptions } from './channel-server.js'
import { HostNotRunningError, MessageTooLargeError, PeerUnreachableError, RpcTimeoutError } from './host-errors.js'
import { LivenessChecker, type ConnectionSource, type LivenessStats } from './liveness.js'
import { PeerChannel, type PeerChannelLimits } from './peer-channel.js'

/**
 * The protocol id of the per-peer request channel (channel-frames.ts has the wire format). A
 * version bump whenever the frames change: a peer that does not speak it resets the stream,
 * which its requesters see as an unreachable peer.
 */
export const CHANNEL_PROTOCOL = '/murmur/chan/1.0.0'

/**
 * Channel streams per connection and direction. One is in use at a time; a few more cover a
 * channel being replaced while the old stream is still closing.
 */
export const CHANNEL_STREAMS_PER_CONNECTION = 8

/**
 * Budget for opening a channel: a dial (TCP, noise, yamux) if no connection is up, then a new
 * stream. Shared by every request waiting for that channel, each of which still gives up at its
 * own deadline; past 5 s the peer is not usefully reachable, and a hung handshake (pnet against
 * non-pnet) must not hold the slot. A request that means to wait longer (a joiner's first
 * push-pull with its seed, whose answer is the whole table: config.ts syncTimeoutMs) gives the
 * open its own deadline: on a starved machine the open is the slow part, and cutting it at 5 s
 * failed that push-pull as "unreachable" before its deadline (27 of 50 agents of a traced join on
 * 2 cores had push-pulls fail so), and a joiner knew nobody for tens of seconds.
 */
const OPEN_TIMEOUT_MS = 5_000

/** Requests waiting for one peer's answers at once (the core keeps far fewer in flight). */
export const MAX_PENDING_PER_PEER = 4_096

/**
 * Errors that mean "the connection we reused was already going away", not "the peer is gone":
 * libp2p keeps a closing connection in its list for a moment and hands it out.
 */
const STALE_CONNECTION_ERRORS = new Set(['ConnectionClosedError', 'ConnectionClosingError', 'MuxerClosedError'])

/** What the registry needs of libp2p: open a stream, and find the connection under one. */
export interface ChannelDialer extends ConnectionSource {
  dialProtocol(peer: PeerId, protocol: string, options: { signal: AbortSignal; force?: boolean; negotiateFully?: boolean }): Promise<Stream>
}

export interface ChannelRegistryOptions {
  protocol: string
  maxMessageBytes: number
  log: Logger
  /** Requests waiting for one peer at once (default MAX_PENDING_PER_PEER; tests lower it). */
  maxPendingPerPeer?: number
  /** How long our handler may take to answer (default RPC_SERVE_TIMEOUT_MS; tests lower it). */
  serveTimeoutMs?: number
  /** How long a silent peer has to answer a liveness check (default LIVENESS_TIMEOUT_MS; tests lower it). */
  livenessTimeoutMs?: number
}

export class ChannelRegistry {
  readonly #dialer: ChannelDialer
  readonly #opts: ChannelRegistryOptions
  readonly #limits: PeerChannelLimits
  readonly #channels = new Map<string, PeerChannel>()
  readonly #opening = new Map<string, Promise<PeerChannel>>()
  readonly #stop = new AbortController()
  readonly #liveness: LivenessChecker

  constructor(dialer: ChannelDialer, opts: ChannelRegistryOptions) {
    this.#dialer = dialer
    this.#opts = opts
    this.#liveness = new LivenessChecker(dialer, opts.log, opts.livenessTimeoutMs)
    this.#limits = {
      maxMessageBytes: opts.maxMessageBytes,
      maxPending: opts.maxPendingPerPeer ?? MAX_PENDING_PER_PEER,
      // Room for two full-size requests: one may wait while the stream drains the other.
      maxQueuedBytes: Math.max(1024 * 1024, 2 * opts.maxMessageBytes),
    }
  }

  /** The handler to register for `protocol`: serves the channels peers open to us. */
  handler(onRequest: ChannelServerOptions['onRequest']): ReturnType<typeof createChannelHandler> {
    return createChannelHandler({ maxMessageBytes: this.#opts.maxMessageBytes, onRequest, log: this.#opts.log, serveTimeoutMs: this.#opts.serveTimeoutMs })
  }

  /** Peers with an open channel (for tests and metrics). */
  openChannels(): number {
    return this.#channels.size
  }

  /** What the liveness checks of silent connections found (liveness.ts). */
  livenessStats(): Readonly<LivenessStats> {
    return this.#liveness.stats
  }

  /** Whether requests to `peer` (a peer id string) go out on an open channel now. */
  hasChannel(peer: string): boolean {
    return this.#channels.get(peer)?.open === true
  }

  /**
   * Sends one request and returns the response body, or throws one of the host's errors. `peer`
   * is a peer id or its string; a string is parsed only when a channel must be opened.
   */
  async request(peer: PeerId | string, data: Uint8Array, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<Uint8Array> {
    if (this.#stop.signal.aborted) throw new HostNotRunningError('request() on a stopped channel registry')
    if (data.byteLength > this.#opts.maxMessageBytes) {
      throw new MessageTooLargeError(`request of ${data.byteLength} bytes exceeds ${this.#opts.maxMessageBytes}`)
    }
    const key = typeof peer === 'string' ? peer : peer.toString()
    const existing = this.#channels.get(key)
    if (existing?.open === true) return existing.request(data, opts.timeoutMs, opts.signal)
    const started = performance.now()
    const channel = await this.#awaitChannel(key, peer, opts.timeoutMs, opts.signal)
    const left = Math.max(1, opts.timeoutMs - (performance.now() - started))
    return channel.request(data, left, opts.signal)
  }

  /** Closes every channel (their waiting requests fail) and refuses new requests. */
  close(): void {
    this.#stop.abort()
    for (const channel of [...this.#channels.values()]) channel.close(new HostNotRunningError('host stopped'))
    this.#channels.clear()
  }

  /** The channel being opened (or a new one), raced against this request's own deadline. */
  async #awaitChannel(key: string, peer: PeerId | string, timeoutMs: number, signal: AbortSignal | undefined): Promise<PeerChannel> {
    let opening = this.#opening.get(key)
    if (opening === undefined) {
      opening = this.#open(key, peer, Math.max(OPEN_TIMEOUT_MS, timeoutMs)).finally(() => { this.#opening.delete(key) })
      this.#opening.set(key, opening)
    }
    const describe = `request to ${key}`
    let timer: NodeJS.Timeout | undefined
    let onAbort: (() => void) | undefined
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => { reject(new RpcTimeoutError(`${describe} timed out while connecting (deadline ${timeoutMs} ms)`)) }, timeoutMs)
      if (signal !== undefined) {
        onAbort = () => { reject(new RpcTimeoutError(`${describe} was aborted while connecting`)) }
        if (signal.aborted) onAbort()
        else signal.addEventListener('abort', onAbort, { once: true })
      }
    })
    try {
      return await Promise.race([opening, deadline])
    } finally {
      clearTimeout(timer)
      if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort)
    }
  }

  async #open(key: string, peer: PeerId | string, budgetMs: number): Promise<PeerChannel> {
    const signal = AbortSignal.any([this.#stop.signal, AbortSignal.timeout(budgetMs)])
    let stream: Stream
    try {
      stream = await this.#openStream(typeof peer === 'string' ? peerIdFromString(peer) : peer, signal)
    } catch (err) {
      throw classifyOpenFailure(err, signal, key, budgetMs)
    }
    if (this.#stop.signal.aborted) {
      stream.abort(new HostNotRunningError('host stopped'))
      throw new HostNotRunningError('host stopped while a channel was opening')
    }
    const channel = new PeerChannel(key, stream, this.#limits, this.#opts.log, (closed) => {
      if (this.#channels.get(key) === closed) this.#channels.delete(key)
    }, (silent, on) => { if (!this.#stop.signal.aborted) this.#liveness.suspect(silent.peer, on) })
    this.#channels.set(key, channel)
    this.#opts.log.debug({ peer: key }, 'channel opened')
    return channel
  }

  /** Opens the stream, retrying once on a fresh connection when the reused one was stale. */
  async #openStream(peer: PeerId, signal: AbortSignal): Promise<Stream> {
    try {
      // negotiateFully: false sends the protocol name together with our first frame instead of
      // waiting a round trip for the peer to agree: every peer of ours speaks this protocol.
      return await this.#dialer.dialProtocol(peer, this.#opts.protocol, { signal, negotiateFully: false })
    } catch (err) {
      if (signal.aborted || !isStaleConnectionFailure(err)) throw err
      // A dead peer still fails fast here (the fresh dial is refused); a live one is reached.
      return await this.#dialer.dialProtocol(peer, this.#opts.protocol, { signal, force: true, negotiateFully: false })
    }
  }
}

/**
 * A stream open that failed because the connection it reused was going away. Besides the named
 * errors, libp2p rejects a write it had to wait on (multistream-select's, on a socket the peer
 * already closed) with the stream's bare `close` event, not an Error.
 */
function isStaleConnectionFailure(err: unknown): boolean {
  if (err instanceof Error) return STALE_CONNECTION_ERRORS.has(err.name)
  return err instanceof Event && err.type === 'close'
}

/**
 * Why a channel could not be opened, as a host error. Refused or reset dials, no known address, a
 * garbled handshake (a peer outside our private network): all mean "cannot talk to that peer now",
 * and the cause chain keeps ECONNREFUSED for `PeerUnreachableError.refused`.
 */
function classifyOpenFailure(err: unknown, signal: AbortSignal, key: string, budgetMs: number): Error {
  if (err instanceof HostNotRunningError) return err
  const why = signal.aborted ? `no channel within ${budgetMs} ms` : err instanceof Error ? err.message : String(err)
  return new PeerUnreachableError(`could not open a channel to ${key}: ${why}`, { cause: err })
}
