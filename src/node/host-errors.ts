// Errors the cluster host raises. One class per failure, each with a stable `name` that callers
// and tests check (the core's failure detector treats them differently: an unreachable peer is
// evidence of failure, a timeout is weaker evidence, a remote error is none).
// host.ts re-exports them; they live here so the channel files can use them without a cycle.

/** A request got no response before its deadline, or its caller aborted it. */
export class RpcTimeoutError extends Error {
  override name = 'RpcTimeoutError'
}

/**
 * Too many requests already wait for this peer (its channel's bound on requests in flight or on
 * bytes queued): the peer is not keeping up. A timeout, to the failure detector: weak evidence.
 */
export class ChannelBusyError extends RpcTimeoutError {
  override name = 'ChannelBusyError'
}

/**
 * The peer could not be reached: the dial was refused, it has no known address, the
 * connection failed or closed under the request, or it does not speak our rpc protocol.
 */
export class PeerUnreachableError extends Error {
  override name = 'PeerUnreachableError'

  /** The dial was refused (ECONNREFUSED somewhere in the cause chain): nothing listens there. */
  get refused(): boolean {
    return hasCode(this, 'ECONNREFUSED', 0)
  }
}

function hasCode(err: unknown, code: string, depth: number): boolean {
  if (depth > 8 || typeof err !== 'object' || err === null) return false
  const e = err as { code?: unknown; cause?: unknown; errors?: unknown }
  if (e.code === code) return true
  if (Array.isArray(e.errors) && e.errors.some((x) => hasCode(x, code, depth + 1))) return true
  return hasCode(e.cause, code, depth + 1)
}

/**
 * A gossip message or rpc frame is over `maxMessageBytes`: refused locally before sending,
 * or refused by the remote peer (whose cap may be smaller than ours).
 */
export class MessageTooLargeError extends Error {
  override name = 'MessageTooLargeError'
}

/** The remote peer received the request but its handler failed; the peer itself is fine. */
export class RpcRemoteError extends Error {
  override name = 'RpcRemoteError'
}

/** `publish` or `request` was called on a host that is not started (or already stopped). */
export class HostNotRunningError extends Error {
  override name = 'HostNotRunningError'
}

/** `createClusterHost` was given options it cannot use (bad join address, bad swarm key, ...). */
export class InvalidHostOptionsError extends Error {
  override name = 'InvalidHostOptionsError'
}
