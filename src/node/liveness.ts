// Finding a half-open connection (the peer vanished without a FIN or RST: a host cut off, a
// powered-off machine, a frozen process) from the channel's own traffic, instead of pinging
// every connection on a timer. TCP alone would keep such a connection "open" for up to ~15
// minutes of retransmissions, and every request on it would time out; libp2p's connection
// monitor found it by opening a stream on every connection every 10 s, which was a quarter of
// an idle agent's CPU. Here a connection is checked only when a channel request on it timed
// out with nothing heard from the peer since the request was sent: then one stream is opened
// on it, for a protocol nobody registers. The peer's multistream-select answers any protocol
// name ("na" for one it does not speak), and that answer is all the check waits for; none
// within LIVENESS_TIMEOUT_MS and the connection is aborted, so its channels close, the core
// hears the peer disconnect, and the next request dials afresh.
import { peerIdFromString } from '@libp2p/peer-id'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import type { Logger } from 'pino'

/**
 * Protocol of the check's stream. Deliberately registered by no one: the answer it gets is the
 * peer's multistream-select refusing it, which needs nothing of ours on the other side.
 */
export const LIVENESS_PROTOCOL = '/murmur/liveness/1.0.0'

/**
 * How long the peer has to answer the check: libp2p's connection monitor allowed at least 5 s.
 * A process stalled for less than this (GC, a blocked event loop) answers late and is kept.
 */
export const LIVENESS_TIMEOUT_MS = 5_000

/** What the checker needs of libp2p: the connections to a peer. */
export interface ConnectionSource {
  getConnections(peer?: PeerId): Connection[]
}

/** The peer answered nothing on the connection within the check's deadline. */
export class PeerSilentError extends Error {
  override name = 'PeerSilentError'
}

/** What the checks found so far (for tests and metrics). */
export interface LivenessStats {
  /** Checks started. */
  checks: number
  /** Checks the peer answered in time. */
  answered: number
  /** Connections closed because the peer answered nothing. */
  closed: number
}

export class LivenessChecker {
  readonly stats: LivenessStats = { checks: 0, answered: 0, closed: 0 }
  readonly #source: ConnectionSource
  readonly #log: Logger
  readonly #timeoutMs: number
  /** Connections being checked, and those checked recently (by connection id, until when). */
  readonly #quietUntil = new Map<string, number>()

  constructor(source: ConnectionSource, log: Logger, timeoutMs = LIVENESS_TIMEOUT_MS) {
    this.#source = source
    this.#log = log
    this.#timeoutMs = timeoutMs
  }

  /**
   * A request on `stream` (to `peer`) went unanswered and nothing came back on it meanwhile:
   * check the connection that carries the stream. At most one check per connection per timeout
   * period, so a live peer whose handler is slow costs one stream open per period at most.
   */
  suspect(peer: string, stream: Stream): void {
    let conn: Connection | undefined
    try {
      conn = this.#source.getConnections(peerIdFromString(peer)).find((c) => c.streams.includes(stream))
    } catch {
      return
    }
    if (conn === undefined || conn.status !== 'open') return
    const now = performance.now()
    for (const [id, until] of this.#quietUntil) if (until <= now) this.#quietUntil.delete(id)
    if (this.#quietUntil.has(conn.id)) return
    this.#quietUntil.set(conn.id, now + this.#timeoutMs)
    this.stats.checks++
    void this.#check(peer, conn)
  }

  async #check(peer: string, conn: Connection): Promise<void> {
    const signal = AbortSignal.timeout(this.#timeoutMs)
    try {
      const stream = await conn.newStream(LIVENESS_PROTOCOL, { signal })
      stream.abort(new Error('liveness check done'))
      this.stats.answered++
    } catch (err) {
      // Gone meanwhile (closed by either side): nothing left to decide.
      if (conn.status !== 'open') return
      // An answer of any kind ("na" included) means the peer is there; only silence is not.
      if (!signal.aborted) {
        this.stats.answered++
        return
      }
      this.stats.closed++
      this.#log.warn({ peer, silentMs: this.#timeoutMs }, 'peer silent on its connection: closing it')
      conn.abort(new PeerSilentError(`${peer} answered nothing within ${this.#timeoutMs} ms`, { cause: err }))
    }
  }
}
