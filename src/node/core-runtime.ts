// Drives the pure core against the real world: feeds it events with Date.now(), ticks it when it
// next has something due, and carries out its effects on the libp2p host, the store and the event
// bus. This is the only place where the core's effects become I/O; the rules for carrying them out
// (the disk barrier, one answer per request, requests to oneself) are the shared
// EffectInterpreter's (src/core/effect-interpreter.ts), whose ports are here.
import { EventEmitter } from 'node:events'
import type { Logger } from 'pino'
import { EffectInterpreter, type EffectPorts } from '../core/effect-interpreter.js'
import { CELLS_MISMATCH, type NodeCore } from '../core/node-core.js'
import type { ApiReply, ApiRequest } from '../core/job-types.js'
import type { ClusterEvent, CoreEvent, Effect, GossipMessage, RpcFailure, RpcRequest, RpcResponse } from '../core/types.js'
import { CodecError, gossipCodec, rpcRequestCodec, rpcResponseCodec } from '../gossip/codec.js'
import { PeerUnreachableError, RpcTimeoutError, type ClusterHost, type HostHandlers } from './host.js'
import type { AgentMetrics } from './metrics.js'
import { Waiters } from './waiters.js'
import { shortId, trace, traceStep, tracing } from './lat-trace.js'

/**
 * An inbound request waits at most this long for the core's reply. The longest the core holds a
 * request is a relayed probe (one probe timeout, 400 ms); 10 s only guards against leaks.
 */
const INBOUND_REPLY_LIMIT_MS = 10_000

/** What the runtime needs of the data dir's store. */
export interface KeyValueStore {
  /** Applies the writes (value: JSON to store) and deletes (value undefined) at once, in order. */
  batch(ops: ReadonlyArray<{ key: string; value: unknown }>): Promise<void>
}

/** What the runtime needs of the process supervisor (src/execution). */
export interface ProcessRunner {
  start(effect: Extract<Effect, { kind: 'start-process' }>, onExit: (exit: Extract<CoreEvent, { kind: 'process-exit' }>['exit']) => void): void
  stop(allocId: string, reason: 'killed' | 'timeout'): Promise<void>
  /** Delete what a finished run left (its directory and logs). */
  remove(allocId: string): Promise<void>
}

/**
 * How long past its own deadline a send may stay unsettled before the runtime fails it itself:
 * the host's deadline should settle it; this only catches a libp2p call that hangs past its signal.
 */
const SEND_GUARD_MS = 1_000

/** At most one warning about sends past their guard per this long (see unsettledWarning). */
const UNSETTLED_WARN_MS = 10_000

/** The event topic is kept this long after the last watcher of /v1/events left. */
const WATCH_LINGER_MS = 5 * 60_000

/** An API request waits at most this long for the core (a submit waits for 3 replicas' disks). */
const API_REPLY_LIMIT_MS = 15_000

/**
 * Longest the runtime lets the core sleep although its wakeAt() says nothing is due: a backstop,
 * so that a deadline wakeAt() ever failed to report is late by at most this, not forever. An
 * idle member probes every 500 ms anyway, so it costs nothing while the cluster has members.
 */
const MAX_SLEEP_MS = 1_000

export class CoreRuntime {
  private core: NodeCore | undefined
  private readonly early: Array<{ ev: CoreEvent; at: number }> = []
  /** Inbound requests are owed a reply through this; the origin is the handler's resolve. */
  private readonly effects: EffectInterpreter<(answer: RpcResponse) => void>
  /** Guard timers of sends (see SEND_GUARD_MS), cleared when the send settles. */
  private readonly guards = new Map<number, NodeJS.Timeout>()
  private readonly apiWaiting = new Waiters<ApiReply>()
  private readonly inflight = new Set<Promise<unknown>>()
  private readonly bus = new EventEmitter()
  private nextApiReqId = 1
  private timer: NodeJS.Timeout | undefined
  /** When the armed tick timer fires (Infinity: none armed). */
  private timerAt = Infinity
  private lastTickAt = 0
  private tickMs = 100
  /** The write batch under way (see ports' persist). */
  private persistChain: Promise<void> = Promise.resolve()
  private writing = false
  /** Writes and deletes waiting for the batch under way, the last per key (undefined: delete). */
  private readonly queuedWrites = new Map<string, unknown>()
  private queuedSeqs: number[] = []
  private stopped = false
  private readonly cellsWarned = new Set<string>()

  constructor(
    private readonly host: ClusterHost,
    private readonly store: KeyValueStore,
    private readonly runner: ProcessRunner,
    private readonly metrics: AgentMetrics,
    private readonly log: Logger,
  ) {
    this.bus.setMaxListeners(0)
    this.effects = new EffectInterpreter(host.peerId, this.ports(), SEND_GUARD_MS)
  }

  /** Handlers for the host: bytes in, decoded core events out. */
  handlers(): HostHandlers {
    return {
      onGossip: (from, data) => {
        try {
          const msg = gossipCodec.decode(data)
          this.metrics.gossipReceived.inc({ type: msg.type })
          this.dispatch({ kind: 'gossip', from, msg })
        } catch (err) {
          this.dropped('gossip', err)
        }
      },
      onRequest: async (from, data) => {
        let msg: RpcRequest
        try {
          msg = rpcRequestCodec.decode(data)
        } catch (err) {
          this.dropped('rpc', err)
          const code = err instanceof CodecError ? err.code : 'invalid'
          return rpcResponseCodec.encode({ type: 'error', code, message: err instanceof Error ? err.message : 'bad request' })
        }
        this.metrics.rpcReceived.inc({ type: msg.type })
        if (tracing) trace(`rpc-in ${msg.type} <${shortId(from)} ${data.byteLength}B`)
        let limit: NodeJS.Timeout | undefined
        const answer = await new Promise<RpcResponse>((resolve) => {
          const reqId = this.effects.received(resolve)
          limit = setTimeout(() => this.effects.reply(reqId, { type: 'error', code: 'timeout', message: 'no reply in time' }), INBOUND_REPLY_LIMIT_MS).unref()
          this.dispatch({ kind: 'rpc-request', from, reqId, msg })
        })
        // The limit goes with the answer (see Waiters.wait for why).
        clearTimeout(limit)
        if (tracing) trace(`rpc-reply ${msg.type} >${shortId(from)} ${answer.type}`)
        this.warnCellsMismatch(from, answer)
        return rpcResponseCodec.encode(answer)
      },
      onPeerConnected: (peer) => this.dispatch({ kind: 'peer-connected', peer }),
      onPeerDisconnected: (peer) => this.dispatch({ kind: 'peer-disconnected', peer }),
    }
  }

  /** Attach the core (created once the host knows its addresses) and start ticking. */
  attach(core: NodeCore, initial: Effect[], tickMs: number): void {
    this.core = core
    this.tickMs = tickMs
    this.lastTickAt = Date.now()
    this.effects.apply(initial)
    for (const { ev } of this.early.splice(0)) this.dispatch(ev)
    this.armTick()
  }

  /** Feed one event to the core and carry out what it asks for. */
  dispatch(ev: CoreEvent): void {
    if (this.stopped) return
    if (this.core === undefined) {
      this.early.push({ ev, at: Date.now() })
      return
    }
    if (tracing) {
      traceStep(ev, () => this.core?.step(ev, Date.now()) ?? [], (effects) => this.effects.apply(effects))
      this.armTick()
      return
    }
    this.effects.apply(this.core.step(ev, Date.now()))
    // Any step (a message, an answer, an API call) may move the next deadline, either way.
    this.armTick()
  }

  /**
   * Ticks come when the core next has something due (NodeCore.wakeAt, re-read after every step),
   * never more often than every tickMs, and at least every MAX_SLEEP_MS: one timer instead of
   * ten wake-ups a second. The core's stall detector knows a skipped tick is no stall (wakeAt()
   * tells it when it may sleep until), so a late tick still means a stalled event loop.
   */
  private armTick(): void {
    const core = this.core
    if (this.stopped || core === undefined) return
    const at = Math.min(Math.max(core.wakeAt(), this.lastTickAt + this.tickMs), this.lastTickAt + MAX_SLEEP_MS)
    if (this.timer !== undefined && this.timerAt === at) return
    // Also when the armed timer is earlier: a step may take a deadline away (an ack ends its
    // probe's timeout), and a tick at the old time would find nothing due. At idle that was every
    // other tick.
    clearTimeout(this.timer)
    this.timerAt = at
    this.timer = setTimeout(this.onTimer, Math.max(0, at - Date.now()))
  }

  private readonly onTimer = (): void => {
    this.timer = undefined
    this.timerAt = Infinity
    this.lastTickAt = Date.now()
    // Timers run before the event loop reads its sockets. When this process waited for the CPU
    // (a busy machine), an ack or a refutation may already be here, unread, as a probe's deadline
    // passes: the tick runs after the poll phase that reads it (setImmediate), not before.
    setImmediate(this.onTick)
  }

  private readonly onTick = (): void => {
    this.dispatch({ kind: 'tick' })
  }

  /** An API request that changes state: it goes through the core, which answers with api-reply. */
  request(req: ApiRequest): Promise<ApiReply> {
    const reqId = this.nextApiReqId++
    const reply = this.apiWaiting.wait(reqId, API_REPLY_LIMIT_MS, { status: 503, body: { error: { code: 'timeout', message: 'the cluster did not answer in time' } } })
    this.dispatch({ kind: 'api', reqId, req })
    return reply
  }

  subscribe(listener: (e: ClusterEvent) => void): () => void {
    this.bus.on('event', listener)
    return () => this.bus.off('event', listener)
  }

  /**
   * Drain before leaving (SIGTERM): no new work comes here, service runs move (a replacement starts
   * elsewhere first), batch runs may finish until `limitMs`, then what still runs is stopped and
   * placed again. Ends early once nothing runs here and every update is delivered, or at once
   * (stopping what runs) when no other live node could take work: all of them leave too.
   */
  async drain(limitMs: number, killGraceMs: number): Promise<void> {
    const core = this.core
    if (core === undefined || this.stopped || limitMs <= 0) return
    const self = core.selfRecord().id
    const idle = (): boolean => { const b = core.busy(); return b.local === 0 && b.pending === 0 }
    if (idle()) return
    const reply = await this.request({ op: 'drain', node: self, enable: true, deadlineMs: limitMs, transient: true })
    if (reply.status !== 202) {
      this.log.warn({ reply }, 'drain refused; leaving without it')
      return
    }
    this.log.info({ limitMs }, 'draining before leaving')
    const started = Date.now()
    let cutShort = false
    // The bound: the drain deadline, then the processes' SIGTERM-to-SIGKILL grace, then a margin for the last updates.
    while (!this.stopped && !idle() && Date.now() - started < limitMs + killGraceMs + 2_000) {
      if (!cutShort && !core.records().some((r) => r.id !== self && r.state === 'alive' && !r.draining)) {
        cutShort = true
        this.log.info('no other node can take work; stopping what runs here now')
        await this.request({ op: 'drain', node: self, enable: true, deadlineMs: 0, transient: true })
      }
      await new Promise((r) => setTimeout(r, 50))
    }
    this.log.info({ ms: Date.now() - started, left: core.busy() }, 'drained')
  }

  /** Leave gracefully: let the core say goodbye, wait (bounded) for those messages, then stop. */
  async leave(limitMs: number): Promise<void> {
    this.dispatch({ kind: 'leave' })
    const settled = Promise.allSettled([...this.inflight])
    await Promise.race([settled, new Promise((r) => setTimeout(r, limitMs).unref())])
    await this.stop()
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.lingerTimer !== undefined) clearTimeout(this.lingerTimer)
    clearTimeout(this.timer)
    this.timer = undefined
    for (const guard of this.guards.values()) clearTimeout(guard)
    this.guards.clear()
    this.effects.replyAll({ type: 'error', code: 'stopping', message: 'node is stopping' })
    this.apiWaiting.settleAll({ status: 503, body: { error: { code: 'stopping', message: 'node is stopping' } } })
    while (this.writing) await this.persistChain
  }

  /** The real world's side of each effect (see EffectPorts). */
  private ports(): EffectPorts<(answer: RpcResponse) => void> {
    return {
      persist: (key, value, seq) => {
        this.queueWrite(key, value)
        this.queuedSeqs.push(seq)
      },
      unpersist: (key) => this.queueWrite(key, undefined),
      publish: (msg) => this.track(this.publish(msg)),
      transmit: (to, corr, msg, timeoutMs) => this.track(this.send(to, corr, msg, timeoutMs)),
      guard: (to, corr, ms) => {
        this.guards.set(corr, setTimeout(() => {
          this.guards.delete(corr)
          if (!this.effects.owes(corr)) return
          this.unsettledWarning(to)
          this.effects.failed(to, corr, 'timeout')
        }, ms))
      },
      transmitReply: (resolve, msg) => resolve(msg),
      soon: (fn) => queueMicrotask(fn),
      step: (ev) => this.dispatch(ev),
      apiReply: (reqId, reply) => {
        if (tracing) trace(`api-reply ${reply.status}`)
        this.apiWaiting.settle(reqId, reply)
      },
      emit: (event, heard) => {
        // A watched node hears every event of its cell: each is logged once, by its author.
        if (!heard) this.logEvent(event)
        this.bus.emit('event', event)
        if (event.type === 'node' && event.to === 'alive') this.connectWatched(event.node)
      },
      startProcess: (e) => {
        if (tracing) trace(`start-process ${e.allocId}`)
        this.runner.start(e, (exit) => this.dispatch({ kind: 'process-exit', exit }))
        if (tracing) trace('start-process returned')
      },
      killProcess: (e) => {
        void this.runner.stop(e.allocId, e.reason).catch((err: unknown) => this.log.warn({ err, job: jobOfAlloc(e.allocId), alloc: e.allocId }, 'stop failed'))
      },
      removeRun: (allocId) => {
        void this.runner.remove(allocId).catch((err: unknown) => this.log.warn({ err, alloc: allocId }, 'removing a run\'s files failed'))
      },
    }
  }

  /** One line per event this node authored, keyed by job and run (eventLogFields). */
  private logEvent(event: ClusterEvent): void {
    this.log.info({ ...eventLogFields(event), event }, event.type === 'node'
      ? `node ${event.name} ${event.from} -> ${event.to} (${event.reason})`
      : `job ${event.job} ${event.state}${event.allocState === undefined ? '' : ` (instance ${event.index} attempt ${event.attempt} ${event.allocState} on ${event.node})`}`)
  }

  private track(p: Promise<unknown>): void {
    this.inflight.add(p)
    void p.finally(() => this.inflight.delete(p))
  }

  private async publish(msg: GossipMessage): Promise<void> {
    try {
      // Activity digests go on the event topic, to the nodes someone watches (src/core/activity.ts).
      const sent = await this.host.publish(gossipCodec.encode(msg), msg.type === 'activity' ? 'events' : 'cluster')
      if (sent) this.metrics.gossipPublished.inc({ type: msg.type })
    } catch (err) {
      this.log.warn({ err }, 'publish failed')
    }
  }

  /**
   * Someone watches this node's event stream: it joins the event topic while anyone does, and
   * for WATCH_LINGER_MS after the last one left (a page that reloads, or fails over and back,
   * finds the stream as it left it).
   */
  watch(): () => void {
    if (this.watchers++ === 0) {
      if (this.lingerTimer !== undefined) { clearTimeout(this.lingerTimer); this.lingerTimer = undefined } else this.host.watchEvents(true)
      // Every node of our cell publishes its events: be connected to each (see Host.connect).
      for (const r of this.core?.records() ?? []) if (r.state === 'alive') this.connectWatched(r.id)
    }
    let done = false
    return () => {
      if (done) return
      done = true
      if (--this.watchers > 0 || this.stopped) return
      this.lingerTimer = setTimeout(() => {
        this.lingerTimer = undefined
        if (this.watchers === 0 && !this.stopped) this.host.watchEvents(false)
      }, WATCH_LINGER_MS)
      this.lingerTimer.unref()
    }
  }

  /**
   * Writes go to the store in batches, one at a time: what arrives while a batch is written waits
   * and goes in the next one, the last value per key only (a record changed three times in a
   * step, or in the steps of one batch, is written once). One LevelDB batch per turn instead of a
   * put per change: the puts were a tenth of a busy agent's CPU. A failed batch is never reported
   * durable: what waits on its writes is never acknowledged (requesters time out and retry).
   */
  private queueWrite(key: string, value: unknown): void {
    this.queuedWrites.delete(key)
    this.queuedWrites.set(key, value)
    // The batch starts once the step that wrote is over, so that it holds every write of the
    // step and the sequence numbers that wait on them: one disk round per step, not one for the
    // first write and another for the rest.
    if (!this.writing) {
      this.writing = true
      queueMicrotask(() => this.writeBatch())
    }
  }

  private writeBatch(): void {
    if (this.queuedWrites.size === 0 && this.queuedSeqs.length === 0) { this.writing = false; return }
    this.writing = true
    const ops = [...this.queuedWrites].map(([key, value]) => ({ key, value }))
    const seqs = this.queuedSeqs
    this.queuedWrites.clear()
    this.queuedSeqs = []
    if (tracing) trace(`persist-start ops=${ops.length} seqs=${seqs.join('/')}`)
    const write = this.store.batch(ops)
    this.persistChain = write.then(() => {
      if (tracing) trace(`persist-end seqs=${seqs.join('/')}`)
      for (const seq of seqs) this.effects.persisted(seq)
    }, (err: unknown) => {
      this.log.error({ err, keys: ops.length }, 'persist failed')
    }).finally(() => this.writeBatch())
  }

  private watchers = 0
  private lingerTimer: NodeJS.Timeout | undefined

  /** While watched: a connection to a member that publishes events (best effort, logged). */
  private connectWatched(id: string): void {
    if (this.watchers === 0 || this.stopped || id === this.core?.id) return
    void this.host.connect(id, this.core?.addrsOf(id) ?? []).catch((err: unknown) => this.log.debug({ err, peer: id }, 'watcher cannot connect to a member'))
  }

  /** A request to another node (one to ourselves never comes here: see EffectInterpreter). */
  private async send(to: string, corr: number, msg: RpcRequest, timeoutMs: number): Promise<void> {
    this.metrics.rpcSent.inc({ type: msg.type })
    const addrs = this.core?.addrsOf(to)
    const started = Date.now()
    if (tracing) trace(`send ${msg.type} >${shortId(to)}`)
    try {
      const bytes = await this.host.request(to, rpcRequestCodec.encode(msg), { timeoutMs, addrs })
      if (this.log.isLevelEnabled('debug')) this.log.debug({ to, type: msg.type, ms: Date.now() - started }, 'rpc done')
      const answer = rpcResponseCodec.decode(bytes)
      if (tracing) trace(`answer ${msg.type} <${shortId(to)} ${answer.type}`)
      this.warnCellsMismatch(to, answer)
      this.effects.answered(to, corr, answer)
    } catch (err) {
      const reason: RpcFailure = err instanceof RpcTimeoutError ? 'timeout' : err instanceof PeerUnreachableError ? (err.refused ? 'refused' : 'unreachable') : 'protocol'
      this.metrics.rpcFailed.inc({ type: msg.type, reason })
      this.log.debug({ err, to, type: msg.type }, 'rpc failed')
      this.effects.failed(to, corr, reason)
    } finally {
      clearTimeout(this.guards.get(corr))
      this.guards.delete(corr)
    }
  }

  /**
   * Said at most once per UNSETTLED_WARN_MS, with how many since: a starved process finds
   * thousands of its sends past their guard at once (a 50-agent start on 2 cores logged 5,000
   * such lines per agent), and writing each one only starves it further.
   */
  private unsettledWarning(to: string): void {
    this.unsettledSince++
    const now = Date.now()
    if (now - this.unsettledWarnedAt < UNSETTLED_WARN_MS) return
    this.log.warn({ to, requests: this.unsettledSince }, `${this.unsettledSince} request(s) did not settle ${SEND_GUARD_MS} ms after their deadline (the last to ${to})`)
    this.unsettledWarnedAt = now
    this.unsettledSince = 0
  }

  private unsettledWarnedAt = -Infinity
  private unsettledSince = 0

  /** A peer started with another --cells: said once per peer, at warn (the core refuses its records). */
  private warnCellsMismatch(peer: string, answer: RpcResponse): void {
    if (answer.type !== 'error' || answer.code !== CELLS_MISMATCH || this.cellsWarned.has(peer)) return
    this.cellsWarned.add(peer)
    this.log.warn({ peer, detail: answer.message }, 'peer ignored: it splits the cluster into another number of cells (--cells)')
  }

  private dropped(channel: 'gossip' | 'rpc', err: unknown): void {
    const reason = err instanceof CodecError ? err.code : 'error'
    this.metrics.messagesDropped.inc({ channel, reason })
    this.log.warn({ err }, `dropped ${channel} message`)
  }
}

/** `job` and, for a run's change, `alloc` (`<job>.<index>.<attempt>`, as execution names it): the log's search keys. */
function eventLogFields(event: ClusterEvent): { job?: string; alloc?: string } {
  if (event.type !== 'job') return {}
  return event.index === undefined || event.attempt === undefined
    ? { job: event.job }
    : { job: event.job, alloc: `${event.job}.${event.index}.${event.attempt}` }
}

/** The job id of an allocation id `<job>.<index>.<attempt>`. */
function jobOfAlloc(allocId: string): string {
  return allocId.replace(/\.\d+\.\d+$/, '')
}
