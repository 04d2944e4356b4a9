// yamux with receive-window updates sent once half the window is consumed, as go-yamux and
// rust-yamux do, instead of after every data frame (what @libp2p/yamux 8 does). On an idle
// cluster almost every frame is a small request or response, so the library's policy doubled
// the frames on the wire: each message cost a second frame back (encrypted, written, read,
// decrypted, decoded) that granted a few dozen bytes of credit nobody was short of.
//
// The policy lives on each stream: its `sendWindowUpdate` is skipped while the stream is
// established and less than half its window has been consumed since the last update. The
// library's own bookkeeping is untouched: when the update does go out it carries the whole
// consumed amount, so the peer never holds less than half a window of credit and never stalls.
import { yamux } from '@libp2p/yamux'
import type { YamuxMuxerInit } from '@libp2p/yamux'
import type { Stream, StreamMuxer, StreamMuxerFactory } from '@libp2p/interface'

/** The yamux stream state in which window updates carry no flags (StreamState.Established). */
const ESTABLISHED = 3

/**
 * The members of a @libp2p/yamux stream the policy reads (the window fields are private in its
 * types; `windowPolicyApplies` checks they exist, so a library change that renames them leaves
 * streams on the library's own policy instead of breaking them).
 */
interface WindowedStream {
  state: number
  recvWindow: number
  recvWindowCapacity: number
  sendWindowUpdate(): void
}

/** Marks a stream whose updates follow the half-window policy (tests read it). */
export const LAZY_WINDOW = Symbol('murmur.lazyWindow')

function windowPolicyApplies(stream: unknown): stream is WindowedStream {
  const s = stream as Partial<WindowedStream> | undefined
  return typeof s?.sendWindowUpdate === 'function' && typeof s.state === 'number' &&
    typeof s.recvWindow === 'number' && typeof s.recvWindowCapacity === 'number'
}

/** Applies the half-window policy to one stream (once); returns the stream. */
export function lazyWindowUpdates<S>(stream: S): S {
  if (!windowPolicyApplies(stream) || (stream as Record<symbol, unknown>)[LAZY_WINDOW] === true) return stream
  const send = stream.sendWindowUpdate.bind(stream)
  stream.sendWindowUpdate = () => {
    // In any other state the update carries a SYN/ACK flag or is the library's pause handling.
    if (stream.state === ESTABLISHED && stream.recvWindow - stream.recvWindowCapacity < stream.recvWindow / 2) return
    send()
  }
  Object.defineProperty(stream, LAZY_WINDOW, { value: true })
  return stream
}

/**
 * The yamux muxer factory with the half-window policy on every stream, applied where the muxer
 * makes them: outbound ones in `onCreateStream`, inbound ones in `onRemoteStream` (before their
 * first data frame is handled). Both are AbstractStreamMuxer's hooks for its subclasses, called
 * synchronously where the stream is made, so no frame of the stream passes before the policy.
 */
export function lazyWindowYamux(init: YamuxMuxerInit = {}): () => StreamMuxerFactory {
  const make = yamux(init)
  return () => {
    // The library's factory object itself (it also carries the capabilities libp2p checks).
    const factory: StreamMuxerFactory = make()
    const createStreamMuxer = factory.createStreamMuxer.bind(factory)
    factory.createStreamMuxer = (maConn) => {
      const muxer = createStreamMuxer(maConn) as unknown as Partial<StreamHooks>
      const onCreateStream = muxer.onCreateStream?.bind(muxer)
      const onRemoteStream = muxer.onRemoteStream?.bind(muxer)
      if (onCreateStream !== undefined && onRemoteStream !== undefined) {
        muxer.onCreateStream = (options) => lazyWindowUpdates(onCreateStream(options))
        muxer.onRemoteStream = (stream) => { onRemoteStream(lazyWindowUpdates(stream)) }
      }
      return muxer as unknown as StreamMuxer
    }
    return factory
  }
}

/** AbstractStreamMuxer's hooks where its subclass makes streams (not on the StreamMuxer interface). */
interface StreamHooks {
  onCreateStream(options: unknown): Stream
  onRemoteStream(stream: Stream): void
}
