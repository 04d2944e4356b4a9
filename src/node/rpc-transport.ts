// One-request-one-response rpc over a fresh libp2p stream. Bytes only: the core encodes and
// decodes; this file frames, caps, times out and maps failures onto the host's error classes.
//
// Wire format (both directions are single length-prefixed frames, unsigned varint prefix):
//   request:  lp(payload)                       payload <= maxMessageBytes
//   response: lp(status byte ++ body)            body <= maxMessageBytes
//     status 0 OK        body = the handler's response
//     status 1 TOO_LARGE body = utf-8 reason    (request frame over the server's cap)
//     status 2 FAILED    body = utf-8 reason    (the server's handler threw, or answered too much)
// The status byte lets a client tell "the peer refused this request" from "the peer is gone":
// only the latter is evidence for the failure detector.
import * as lp from 'it-length-prefixed'
import { pipe } from 'it-pipe'
import { messageStreamToDuplex } from '@libp2p/utils'
import { fromString as bytesFromString } from 'uint8arrays/from-string'
import { toString as bytesToString } from 'uint8arrays/to-string'
import type { Connection, PeerId, Stream, StreamHandler } from '@libp2p/interface'
import type { Logger } from 'pino'
import {
  MessageTooLargeError,
  PeerUnreachableError,
  RpcRemoteError,
  RpcTimeoutError,
} from './host-errors.js'

const STATUS_OK = 0
const STATUS_TOO_LARGE = 1
const STATUS_FAILED = 2

/**
 * Longest a server keeps one inbound rpc stream. Longer than any client deadline the core uses
 * (a few seconds), so the server never cuts off a slow but legitimate handler; short enough that
 * a client that opens a stream and goes silent cannot pin it for long. A client that gives up
 * resets the stream itself, which ends the exchange sooner.
 */
export const RPC_SERVE_TIMEOUT_MS = 30_000

/**
 * After a response arrives the client waits this long for the server's half-close before
 * resetting the stream. The server closes right after writing, so this only matters for a
 * misbehaving peer: it stops half-open streams from piling up on a long-lived connection.
 */
const STREAM_LINGER_MS = 1_000

/** Error reasons sent back to a client are cut to this many characters: a hint, not a log. */
const MAX_REASON_CHARS = 512

export interface RpcServerOptions {
  maxMessageBytes: number
  onRequest(from: string, data: Uint8Array): Promise<Uint8Array>
  log: Logger
}

/** The stream handler for the rpc protocol: read one frame, answer one frame, close. */
export function createRpcStreamHandler(opts: RpcServerOptions): StreamHandler {
  return async (stream: Stream, connection: Connection): Promise<void> => {
    const from = connection.remotePeer.toString()
    const deadline = setTimeout(() => {
      stream.abort(new RpcTimeoutError(`rpc from ${from} not finished after ${RPC_SERVE_TIMEOUT_MS} ms`))
    }, RPC_SERVE_TIMEOUT_MS)
    deadline.unref()
    stream.addEventListener('close', () => { clearTimeout(deadline) }, { once: true })
    try {
      const duplex = messageStreamToDuplex(stream)
      const response = await answer(opts, from, () => pipe(
        duplex.source,
        (source) => lp.decode(source, { maxDataLength: opts.maxMessageBytes }),
        readOneFrame,
      ))
      await pipe([response], (source) => lp.encode(source), duplex.sink)
    } catch (err) {
      // The client reset the stream, the connection dropped, or the deadline fired: nobody is
      // left to tell, so record it and release the stream.
      opts.log.debug({ err, from }, 'rpc stream failed')
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    }
  }
}

/** Reads the request and runs the handler; every outcome becomes one response frame. */
async function answer(
  opts: RpcServerOptions,
  from: string,
  readRequest: () => Promise<Uint8Array | undefined>,
): Promise<Uint8Array> {
  let request: Uint8Array | undefined
  try {
    request = await readRequest()
  } catch (err) {
    if (isDataLengthError(err)) {
      opts.log.warn({ from, cap: opts.maxMessageBytes }, 'rejected rpc request over the size cap')
      return statusFrame(STATUS_TOO_LARGE, `request frame exceeds ${opts.maxMessageBytes} bytes`)
    }
    throw err
  }
  if (request === undefined) {
    throw new Error('stream closed before a request frame arrived')
  }
  let body: Uint8Array
  try {
    body = await opts.onRequest(from, request)
  } catch (err) {
    opts.log.warn({ err, from }, 'rpc handler failed')
    return statusFrame(STATUS_FAILED, `handler failed: ${errorMessage(err)}`)
  }
  if (body.byteLength > opts.maxMessageBytes) {
    opts.log.error({ from, bytes: body.byteLength, cap: opts.maxMessageBytes }, 'rpc response over the size cap')
    return statusFrame(STATUS_FAILED, `response of ${body.byteLength} bytes exceeds ${opts.maxMessageBytes}`)
  }
  const frame = new Uint8Array(body.byteLength + 1)
  frame[0] = STATUS_OK
  frame.set(body, 1)
  return frame
}

export interface RpcDialer {
  dialProtocol(peer: PeerId, protocol: string, options: { signal: AbortSignal; force?: boolean; negotiateFully?: boolean }): Promise<Stream>
}

/**
 * Errors that mean "the connection we reused was already going away", not "the peer is gone":
 * libp2p keeps a closing connection in its list for a moment and hands it out.
 */
const STALE_CONNECTION_ERRORS = new Set(['ConnectionClosedError', 'ConnectionClosingError', 'MuxerClosedError'])

export interface RpcRequestOptions {
  protocol: string
  maxMessageBytes: number
  timeoutMs: number
  signal?: AbortSignal
}

/** Sends one request and returns the response body, or throws one of the host's errors. */
export async function sendRequest(
  dialer: RpcDialer,
  peer: PeerId,
  data: Uint8Array,
  opts: RpcRequestOptions,
): Promise<Uint8Array> {
  if (data.byteLength > opts.maxMessageBytes) {
    throw new MessageTooLargeError(`request of ${data.byteLength} bytes exceeds ${opts.maxMessageBytes}`)
  }
  const timeout = AbortSignal.timeout(opts.timeoutMs)
  const signal = opts.signal === undefined ? timeout : AbortSignal.any([timeout, opts.signal])
  const describe = `request to ${peer.toString()}`

  let stream: Stream
  try {
    stream = await openStream(dialer, peer, opts.protocol, signal)
  } catch (err) {
    throw classify(err, signal, describe, opts.timeoutMs, 'dial')
  }

  // Past the dial the signal no longer reaches libp2p, so a deadline resets the stream itself.
  const onAbort = (): void => { stream.abort(new RpcTimeoutError(`${describe} timed out`)) }
  signal.addEventListener('abort', onAbort, { once: true })
  let frame: Uint8Array | undefined
  try {
    const duplex = messageStreamToDuplex(stream)
    // Write and read run side by side: a server may answer (e.g. "too large") before it has
    // read everything we send. A failed write also fails the read, so it is not reported twice.
    pipe([data], (source) => lp.encode(source), duplex.sink)
      .catch(() => { /* surfaces through the read side */ })
    frame = await pipe(
      duplex.source,
      (source) => lp.decode(source, { maxDataLength: opts.maxMessageBytes + 1 }),
      readOneFrame,
    )
  } catch (err) {
    if (stream.status === 'open' || stream.status === 'closing') {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    }
    throw classify(err, signal, describe, opts.timeoutMs, 'exchange')
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
  if (frame === undefined) {
    throw new PeerUnreachableError(`${describe}: stream closed without a response`)
  }
  // The answer is in; our half-close finishes on its own (or the linger timer resets it).
  resetIfStillOpen(stream)
  return parseResponse(frame, describe)
}

/** Opens the stream, retrying once on a fresh connection when the reused one was stale. */
async function openStream(dialer: RpcDialer, peer: PeerId, protocol: string, signal: AbortSignal): Promise<Stream> {
  try {
    // negotiateFully: false sends the protocol name together with our one frame instead of waiting
    // a round trip for the peer to agree: every peer of ours speaks this protocol, and a request is
    // ~15 per job on the hot path.
    return await dialer.dialProtocol(peer, protocol, { signal, negotiateFully: false })
  } catch (err) {
    if (signal.aborted || !(err instanceof Error) || !STALE_CONNECTION_ERRORS.has(err.name)) throw err
    // A dead peer still fails fast here (the fresh dial is refused); a live one is reached.
    return await dialer.dialProtocol(peer, protocol, { signal, force: true, negotiateFully: false })
  }
}

function parseResponse(frame: Uint8Array, describe: string): Uint8Array {
  const status = frame[0]
  const body = frame.subarray(1)
  switch (status) {
    case STATUS_OK:
      return body
    case STATUS_TOO_LARGE:
      throw new MessageTooLargeError(`${describe} refused by the peer: ${bytesToString(body)}`)
    case STATUS_FAILED:
      throw new RpcRemoteError(`${describe}: ${bytesToString(body)}`)
    default:
      throw new RpcRemoteError(`${describe}: unknown response status ${String(status)}`)
  }
}

/**
 * Maps whatever libp2p threw onto the host's error classes. A length error only means "response
 * too large" while reading our frame; during the dial it is a garbled handshake (e.g. a peer
 * outside our private network), i.e. an unreachable peer.
 */
function classify(err: unknown, signal: AbortSignal, describe: string, timeoutMs: number, phase: 'dial' | 'exchange'): Error {
  if (err instanceof MessageTooLargeError || err instanceof RpcRemoteError || err instanceof PeerUnreachableError) {
    return err
  }
  if (signal.aborted || err instanceof RpcTimeoutError) {
    return new RpcTimeoutError(`${describe} timed out or was aborted (deadline ${timeoutMs} ms)`, { cause: err })
  }
  if (phase === 'exchange' && isDataLengthError(err)) {
    return new MessageTooLargeError(`${describe}: response exceeds the size cap`, { cause: err })
  }
  // Refused or reset dials, no known address, a connection that closed under the stream, a peer
  // that does not speak the protocol: all mean "cannot talk to that peer now".
  return new PeerUnreachableError(`${describe} failed: ${errorMessage(err)}`, { cause: err })
}

async function readOneFrame(source: AsyncIterable<{ subarray(): Uint8Array }>): Promise<Uint8Array | undefined> {
  for await (const frame of source) {
    return plainBytes(frame.subarray())
  }
  return undefined
}

/**
 * A plain Uint8Array view of the same memory. Frames read off a socket are often Node Buffers;
 * the core should see one type everywhere (equality, structuredClone, JSON all differ for Buffer).
 */
export function plainBytes(data: Uint8Array): Uint8Array {
  return data.constructor === Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
}

function statusFrame(status: number, reason: string): Uint8Array {
  const text = bytesFromString(reason.slice(0, MAX_REASON_CHARS))
  const frame = new Uint8Array(text.byteLength + 1)
  frame[0] = status
  frame.set(text, 1)
  return frame
}

function resetIfStillOpen(stream: Stream): void {
  if (stream.status === 'closed') return
  const timer = setTimeout(() => {
    if (stream.status !== 'closed') stream.abort(new Error('rpc peer did not close its end of the stream'))
  }, STREAM_LINGER_MS)
  timer.unref()
  stream.addEventListener('close', () => { clearTimeout(timer) }, { once: true })
}

function isDataLengthError(err: unknown): boolean {
  return err instanceof Error && err.name === 'InvalidDataLengthError'
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
