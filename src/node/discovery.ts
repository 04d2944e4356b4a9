// Turning "we heard of a peer" into connections. libp2p 3 has no auto-dialer, so the host dials
// discovered peers itself (DiscoveryDialer) until it has a few connections (not every peer: the
// request channels dial any member on demand), keeps knocking on its join (bootstrap) peers until
// they answer (JoinLoop), so a node started before its seed still joins, and decides when to
// announce itself for peer exchange (AnnounceThrottle).
// Every dial carries an abort signal: a pnet node dialling a non-pnet one never fails otherwise.
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import type { Logger } from 'pino'
import { InvalidHostOptionsError } from './host-errors.js'

/**
 * Budget for one discovery or join dial: TCP connect + pnet + noise + yamux + multistream
 * takes milliseconds on a LAN and well under a second across a WAN; past 5 s the peer is not
 * usefully reachable, and a hung handshake (pnet against non-pnet) must not pin a dial slot.
 */
export const DIAL_TIMEOUT_MS = 5_000

/**
 * Discovery dials in flight at once, per node. Bounds the burst when a node hears of many peers
 * at once. Measured with 20 nodes in one process: 4, 8 and 16 formed the full mesh equally fast
 * (16-19 s, CPU-bound at ~50 ms of CPU per connection for both ends: noise, identify, gossipsub
 * streams, peer store), so the value is about bounding bursts, not speed.
 */
const MAX_CONCURRENT_DIALS = 8

/**
 * Discovery dials stop once a node has this many connections. Gossip needs only a connected
 * overlay (gossipsub keeps D=6 mesh peers, up to 12), and everything else a node sends goes to a
 * member it names, over a channel that dials that member itself when not yet connected. Dialling
 * every announced peer made a full mesh at once: N(N-1)/2 handshakes of ~50 ms of cpu for both
 * ends, which at 30+ agents on two cores starved every agent's probes for tens of seconds.
 */
export const DISCOVERY_TARGET_CONNECTIONS = 8

/**
 * A failed discovery dial is retried by the dialer itself (a peer announces itself once per
 * join, so waiting for the next announcement could mean waiting for the 30 s backstop): 4
 * attempts, 1, 2 and 4 s apart, so a peer still starting or a CPU-starved handshake gets through
 * while a peer we truly cannot reach soon stops costing dials. A later announcement of that
 * peer starts another round, never sooner than the backoff (which doubles up to 30 s).
 */
const DISCOVERY_RETRY_MIN_MS = 1_000
const DISCOVERY_RETRY_MAX_MS = 30_000
const DISCOVERY_DIAL_ATTEMPTS = 4

/**
 * Budget for one join dial. Every new node dials its join peer at once, so a seed takes a burst of
 * handshakes (~25 ms of its CPU each) while, on a shared machine, its share of the CPU may be a
 * few percent: measured with 50 agents joining one on 2 cores, the seed took 23 s to accept the
 * first. A handshake that waits is making progress; aborting it at DIAL_TIMEOUT_MS threw away
 * what both ends had done, and the retry started over, so nobody got in. A seed that is really
 * gone refuses at once; one that is frozen costs a retry per budget.
 */
export const JOIN_DIAL_TIMEOUT_MS = 30_000

/**
 * Join retry: first retry after 250 ms (a seed started a moment later is found at once),
 * doubling to at most 2 s so a node waiting for its seed joins within 2 s of it coming up.
 * A refused dial costs one SYN/RST, so polling a dead seed every 2 s is cheap.
 */
const JOIN_RETRY_MIN_MS = 250
const JOIN_RETRY_MAX_MS = 2_000

export interface JoinTarget {
  peer: PeerId
  addr: Multiaddr
}

/** Parses `--join` addresses; each must end in /p2p/<peer id>. */
export function parseJoinAddrs(join: readonly string[]): JoinTarget[] {
  return join.map((text) => {
    let addr: Multiaddr
    try {
      addr = multiaddr(text)
    } catch (err) {
      throw new InvalidHostOptionsError(`join address ${JSON.stringify(text)} is not a multiaddr`, { cause: err })
    }
    const id = addr.getComponents().findLast((c) => c.name === 'p2p')?.value
    if (id === undefined) {
      throw new InvalidHostOptionsError(`join address ${text} must end in /p2p/<peer id>`)
    }
    try {
      return { peer: peerIdFromString(id), addr }
    } catch (err) {
      throw new InvalidHostOptionsError(`join address ${text} has an invalid peer id`, { cause: err })
    }
  })
}

/** What the dialers need from libp2p: narrow on purpose, and easy to fake. */
export interface PeerConnector {
  readonly self: PeerId
  dial(peer: PeerId, signal: AbortSignal): Promise<void>
  isConnected(peer: PeerId): boolean
  /** Peers we hold an open connection to. */
  connectedCount(): number
}

/**
 * Dials peers as they are discovered, while the node has fewer than the target connections, with
 * bounded concurrency and a per-peer failure backoff.
 */
export class DiscoveryDialer {
  readonly #connector: PeerConnector
  readonly #log: Logger
  readonly #queued = new Map<string, PeerId>()
  readonly #inFlight = new Set<string>()
  readonly #backoff = new Map<string, { retryAt: number; delayMs: number; failures: number }>()
  readonly #retryTimers = new Set<NodeJS.Timeout>()
  readonly #stop = new AbortController()

  readonly #targetConnections: number

  constructor(connector: PeerConnector, log: Logger, targetConnections = DISCOVERY_TARGET_CONNECTIONS) {
    this.#connector = connector
    this.#log = log
    this.#targetConnections = targetConnections
  }

  /** Called for every announcement; cheap to call often. */
  consider(peer: PeerId): void {
    const key = peer.toString()
    if (this.#stop.signal.aborted || peer.equals(this.#connector.self)) return
    if (this.#connector.connectedCount() + this.#inFlight.size >= this.#targetConnections) return
    if (this.#inFlight.has(key) || this.#queued.has(key) || this.#connector.isConnected(peer)) return
    const backoff = this.#backoff.get(key)
    if (backoff !== undefined && Date.now() < backoff.retryAt) return
    this.#queued.set(key, peer)
    this.#pump()
  }

  /** A peer connected (either direction): forget its failures. */
  connected(peer: PeerId): void {
    this.#backoff.delete(peer.toString())
  }

  stop(): void {
    this.#stop.abort()
    this.#queued.clear()
    for (const timer of this.#retryTimers) clearTimeout(timer)
    this.#retryTimers.clear()
  }

  #pump(): void {
    while (this.#inFlight.size < MAX_CONCURRENT_DIALS && this.#queued.size > 0) {
      const [key, peer] = this.#queued.entries().next().value as [string, PeerId]
      this.#queued.delete(key)
      this.#inFlight.add(key)
      void this.#dial(key, peer).finally(() => {
        this.#inFlight.delete(key)
        this.#pump()
      })
    }
  }

  async #dial(key: string, peer: PeerId): Promise<void> {
    // Queued before the node reached its target: the target may be met by now.
    if (this.#connector.isConnected(peer) || this.#connector.connectedCount() >= this.#targetConnections) return
    const signal = AbortSignal.any([this.#stop.signal, AbortSignal.timeout(DIAL_TIMEOUT_MS)])
    try {
      await this.#connector.dial(peer, signal)
      this.#backoff.delete(key)
    } catch (err) {
      if (this.#stop.signal.aborted) return
      const previous = this.#backoff.get(key)
      const delayMs = Math.min((previous?.delayMs ?? DISCOVERY_RETRY_MIN_MS / 2) * 2, DISCOVERY_RETRY_MAX_MS)
      const failures = (previous?.failures ?? 0) + 1
      this.#backoff.set(key, { retryAt: Date.now() + delayMs, delayMs, failures })
      this.#log.debug({ err, peer: key, failures, retryInMs: delayMs }, 'discovery dial failed')
      if (failures % DISCOVERY_DIAL_ATTEMPTS !== 0) {
        const timer = setTimeout(() => {
          this.#retryTimers.delete(timer)
          this.consider(peer)
        }, delayMs)
        this.#retryTimers.add(timer)
      }
    }
  }
}

interface JoinState {
  target: JoinTarget
  delayMs: number
  timer?: NodeJS.Timeout
  dialing: boolean
  failures: number
}

/**
 * Keeps dialling each join peer while it is not connected: at start, and again whenever it
 * disconnects. Idle (no timers) while connected.
 */
export class JoinLoop {
  readonly #connector: PeerConnector
  readonly #log: Logger
  readonly #states: JoinState[]
  readonly #stop = new AbortController()

  constructor(targets: readonly JoinTarget[], connector: PeerConnector, log: Logger) {
    this.#connector = connector
    this.#log = log
    this.#states = targets
      .filter((target) => !target.peer.equals(connector.self))
      .map((target) => ({ target, delayMs: JOIN_RETRY_MIN_MS, dialing: false, failures: 0 }))
  }

  start(): void {
    for (const state of this.#states) this.#schedule(state, 0)
  }

  /** The host calls this on every peer disconnect; join peers are retried at once. */
  disconnected(peer: PeerId): void {
    for (const state of this.#states) {
      if (state.target.peer.equals(peer)) {
        state.delayMs = JOIN_RETRY_MIN_MS
        this.#schedule(state, 0)
      }
    }
  }

  stop(): void {
    this.#stop.abort()
    for (const state of this.#states) clearTimeout(state.timer)
  }

  #schedule(state: JoinState, delayMs: number): void {
    if (this.#stop.signal.aborted || state.dialing) return
    clearTimeout(state.timer)
    state.timer = setTimeout(() => { void this.#attempt(state) }, delayMs)
  }

  async #attempt(state: JoinState): Promise<void> {
    state.timer = undefined
    const { peer, addr } = state.target
    if (this.#stop.signal.aborted || this.#connector.isConnected(peer)) {
      state.delayMs = JOIN_RETRY_MIN_MS
      return
    }
    state.dialing = true
    const signal = AbortSignal.any([this.#stop.signal, AbortSignal.timeout(JOIN_DIAL_TIMEOUT_MS)])
    let failed = false
    try {
      await this.#connector.dial(peer, signal)
      if (state.failures > 0) this.#log.info({ join: addr.toString(), failures: state.failures }, 'reached join peer')
      state.failures = 0
      state.delayMs = JOIN_RETRY_MIN_MS
    } catch (err) {
      failed = true
      state.failures += 1
      // Say it once at info so an operator sees why the node is alone; then only at debug.
      const level = state.failures === 1 ? 'info' : 'debug'
      this.#log[level]({ join: addr.toString(), err: String(err), retryInMs: state.delayMs }, 'join peer not reachable yet; retrying')
    } finally {
      state.dialing = false
    }
    if (failed) {
      this.#schedule(state, state.delayMs)
      state.delayMs = Math.min(state.delayMs * 2, JOIN_RETRY_MAX_MS)
    }
  }
}

/**
 * Least time between two of our peer-exchange announcements. Each announcement is a signed
 * gossip message that crosses every link of the topic mesh (~N*(D+1) transmissions), so who
 * announces when decides what peer exchange costs. Measured in one process: everyone announcing
 * every second took 28% of a core idle at 10 nodes and 100% at 20 (no full mesh within 60 s);
 * announcing on every new neighbour (1/s cap) still saturated a core while 20 nodes formed a
 * mesh. The host therefore announces only when it gains its first neighbour (it just joined, or
 * rejoined after being cut off): one announcement per join, to which every member answers by
 * dialling in. The cap only guards against a flapping first link.
 */
const ANNOUNCE_MIN_GAP_MS = 1_000

/** Runs `announce` soon after `trigger()`, at most once per ANNOUNCE_MIN_GAP_MS (trailing). */
export class AnnounceThrottle {
  readonly #announce: () => void
  readonly #log: Logger
  #lastAt = Number.NEGATIVE_INFINITY
  #timer?: NodeJS.Timeout
  #stopped = false

  constructor(announce: () => void, log: Logger) {
    this.#announce = announce
    this.#log = log
  }

  trigger(): void {
    if (this.#stopped || this.#timer !== undefined) return
    const waitMs = Math.max(0, this.#lastAt + ANNOUNCE_MIN_GAP_MS - Date.now())
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#lastAt = Date.now()
      try {
        this.#announce()
      } catch (err) {
        this.#log.debug({ err }, 'peer-exchange announcement failed')
      }
    }, waitMs)
  }

  stop(): void {
    this.#stopped = true
    clearTimeout(this.#timer)
  }
}
