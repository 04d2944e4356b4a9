// A simulated node's event loop and what its effects do in the simulated world. Input reaches a
// node through here (ticks, local events, gossip, rpc): at once if it is up, on thaw if it is
// frozen, never if its process died since. Each effect its core returns runs here: gossip through
// the real codec into the gossipsub model, rpc requests and replies over the network, persists
// behind the runtime's disk barrier, simulated processes.
import type { MembershipConfig } from '../core/config.js'
import type { NodeCore } from '../core/node-core.js'
import type { ApiReply, JobSpec } from '../core/job-types.js'
import type { ClusterEvent, CoreEvent, Effect, GossipMessage, Millis, NodeId, Resources, RpcRequest, RpcResponse } from '../core/types.js'
import { CodecError, gossipCodec, rpcRequestCodec, rpcResponseCodec } from '../gossip/codec.js'
import type { EventQueue } from './event-queue.js'
import { CLUSTER, EVENTS, type Gossipsub, type GossipMsg } from './gossipsub.js'
import type { Histogram } from './histogram.js'
import type { SimRun } from './invariants.js'
import type { Network, NodeRunState } from './network.js'
import { rpcRequestBytes, rpcResponseBytes } from './wire-sizes.js'

/** One simulated node: its core, its process state and what it keeps in its data dir. */
export interface SimNode {
  idx: number
  id: NodeId
  name: string
  total: Resources
  labels: Record<string, string>
  core: NodeCore
  state: NodeRunState
  /** Process generation: bumped on kill and on start, so stale timers and messages are dropped. */
  gen: number
  /** Input that reached it while frozen (its sockets and timers kept it), run on thaw in order. */
  backlog: Array<() => void>
  persisted: Map<string, unknown>
  nextReqId: number
  inbound: Map<number, { from: number; corr: number; gen: number }>
  /**
   * Requests of this process still owed an answer or a failure (by corr). The core gets exactly one
   * of the two per request, as from the runtime, whose timer stops when the answer comes; a timeout
   * firing after the answer is dropped here without waking the core.
   */
  awaiting: Set<number>
  /** A time of the node's tick grid, the time of its pending tick, and that tick's token (a tick brought forward voids the later one). */
  tickGrid: Millis
  tickAt: Millis
  tickToken: number
  /** Simulated processes: allocation id -> run record. */
  procs: Map<string, SimRun>
}

/**
 * The cluster's nodes, by index (the numbering the network and gossipsub use) and by id. A node
 * keeps its slot across kill and restart.
 */
export class SimNodes {
  readonly byIdx: SimNode[] = []
  private readonly byId = new Map<NodeId, SimNode>()

  /** Ids in the order the nodes were first started. */
  ids(): NodeId[] {
    return [...this.byId.keys()]
  }

  find(id: NodeId): SimNode | undefined {
    return this.byId.get(id)
  }

  get(id: NodeId): SimNode {
    const n = this.byId.get(id)
    if (n === undefined) throw new Error(`no node ${id}`)
    return n
  }

  /** The node in slot `idx`; the caller knows the slot is taken (an index from the network or gossipsub). */
  at(idx: number): SimNode {
    return this.byIdx[idx] as SimNode
  }

  add(node: SimNode): void {
    this.byIdx.push(node)
    this.byId.set(node.id, node)
  }
}

/** Listeners a runner attaches to measure a run without keeping everything. */
export interface SimHooks {
  onEmit?(at: Millis, observer: NodeId, event: ClusterEvent): void
  onApiReply?(at: Millis, reqId: number, reply: ApiReply): void
  onRunStart?(run: SimRun): void
  /** A node sent a request (message counts and traces by type). */
  onSend?(at: Millis, from: NodeId, to: NodeId, msg: RpcRequest): void
  /**
   * Whether this request is lost on the wire (tests: the fate of single messages). The sender
   * sees its timeout, as with any lost request.
   */
  dropSend?(at: Millis, from: NodeId, to: NodeId, msg: RpcRequest): boolean
  /** Whether this answer is lost on the wire (the asker sees its timeout; the request was handled). */
  dropReply?(at: Millis, from: NodeId, to: NodeId, msg: RpcResponse): boolean
  /** A node published a gossip message. */
  onPublish?(at: Millis, from: NodeId, msg: GossipMessage): void
}

/** Where effects leave their trace: the run's public record (SimCluster is one). */
export interface SimRecord {
  readonly events: Array<{ at: Millis; observer: NodeId; event: ClusterEvent }>
  readonly runs: SimRun[]
  readonly replies: Map<number, ApiReply>
  readonly hooks: SimHooks
  /** Replaced when a measurement window begins, so it is read afresh on every delivery. */
  gossipDelay: Histogram
  codecErrors: number
}

/** What the event loop needs from the cluster around it. */
export interface NodeIoHost {
  readonly clock: { now: Millis }
  readonly queue: EventQueue
  readonly net: Network
  readonly gossip: Gossipsub
  readonly nodes: SimNodes
  readonly record: SimRecord
  readonly config: MembershipConfig
}

/** The SimOptions that govern effects (documented there). */
export interface NodeIoOptions {
  persistMs?: number
  recordEvents?: boolean
  recordReplies?: boolean
  freezeMessages?: boolean
  /** Check every message against the wire schema (default true; big runs skip it: see Codec.transcode). */
  checkMessages?: boolean
}

export class NodeIo {
  private readonly checked: boolean

  constructor(private readonly host: NodeIoHost, private readonly opts: NodeIoOptions) {
    this.checked = opts.checkMessages ?? true
  }

  private get now(): Millis {
    return this.host.clock.now
  }

  private at(at: Millis, run: () => void): void {
    this.host.queue.push(at, run)
  }

  /** Hand an event to a node's core now and run the effects it returns. */
  step(node: SimNode, ev: CoreEvent): void {
    const effects = node.core.step(ev, this.now)
    this.apply(node, effects)
    // The step may have set a deadline before the pending tick: bring the tick forward.
    if (node.state === 'up' && node.core.wakeAt() < node.tickAt) this.rearm(node)
  }

  /**
   * Start a node's ticks: every tickMs from `at`, as the runtime's timer, except that ticks before
   * the core's wakeAt() are skipped, since they would find nothing due (the core knows it said so:
   * the gap is not taken for a stall). Ticks stop by themselves when the process generation ends.
   */
  scheduleTick(node: SimNode, gen: number, at: Millis): void {
    node.tickGrid = at
    this.armTick(node, gen, at)
  }

  /** The next tick: the first one of the node's grid after now and not before its wakeAt(). */
  private rearm(node: SimNode): void {
    const tickMs = this.host.config.tickMs
    const from = Math.max(node.core.wakeAt(), this.now)
    if (from === Infinity) { this.armTick(node, node.gen, Infinity); return }
    let t = node.tickGrid + Math.ceil((from - node.tickGrid) / tickMs) * tickMs
    if (t <= this.now) t += tickMs
    this.armTick(node, node.gen, t)
  }

  private armTick(node: SimNode, gen: number, at: Millis): void {
    const token = ++node.tickToken
    node.tickAt = at
    if (at === Infinity) return
    this.at(at, () => {
      if (node.gen !== gen || node.state === 'down' || node.tickToken !== token) return
      // A frozen node's timers do not fire; on thaw the next tick comes late, as in Node.
      if (node.state === 'frozen') { this.armTick(node, gen, at + this.host.config.tickMs); return }
      node.tickAt = Infinity
      if (node.core.wakeAt() <= this.now) this.step(node, { kind: 'tick' })
      if (node.tickToken === token) this.rearm(node)
    })
  }

  /** A local event (connection news, a process exit) reaching a node after `delay`. */
  deliver(target: SimNode, ev: CoreEvent, delay: number): void {
    const gen = target.gen
    this.at(this.now + delay, () => this.input(target, gen, () => this.step(target, ev)))
  }

  /** The first copy of a cluster-topic message reached node `idx` (gossipsub's callback). */
  deliverGossip(idx: number, msg: GossipMsg): void {
    const node = this.host.nodes.at(idx)
    this.host.record.gossipDelay.add(this.now - msg.publishedAt)
    this.step(node, { kind: 'gossip', from: this.host.nodes.at(msg.origin).id, msg: msg.payload as GossipMessage })
  }

  apply(node: SimNode, effects: Effect[]): void {
    const persistMs = this.opts.persistMs ?? 0
    let barrier = false
    for (const e of effects) {
      if (e.kind === 'persist') {
        node.persisted.set(e.key, e.value)
        barrier = true
      } else if (barrier && persistMs > 0 && (e.kind === 'send' || e.kind === 'reply' || e.kind === 'api-reply')) {
        // Effects after a persist wait for the disk, as the runtime's barrier makes them.
        const gen = node.gen
        this.at(this.now + persistMs, () => { if (node.gen === gen && node.state !== 'down') this.effect(node, e) })
      } else {
        this.effect(node, e)
      }
    }
  }

  private effect(node: SimNode, e: Effect): void {
    const record = this.host.record
    switch (e.kind) {
      case 'publish': this.publish(node, e.msg); break
      case 'send': this.sendRpc(node, e.to, e.corr, e.msg, e.timeoutMs); break
      case 'reply': this.reply(node, e.reqId, e.msg); break
      case 'persist': node.persisted.set(e.key, e.value); break
      case 'unpersist': node.persisted.delete(e.key); break
      case 'emit':
        if (this.opts.recordEvents ?? true) record.events.push({ at: this.now, observer: node.id, event: e.event })
        record.hooks.onEmit?.(this.now, node.id, e.event)
        break
      case 'api-reply':
        if (this.opts.recordReplies ?? true) record.replies.set(e.reqId, e.reply)
        record.hooks.onApiReply?.(this.now, e.reqId, e.reply)
        break
      case 'start-process': this.startProcess(node, e.allocId, e.jobId, e.index, e.spec); break
      case 'kill-process': this.endProcess(node, e.allocId, null, 'killed'); break
    }
  }

  /** Run `fn` on a node's event loop: now if it is up, on thaw if frozen, never if it died since. */
  private input(target: SimNode, gen: number, fn: () => void): void {
    if (target.gen !== gen || target.state === 'down') return
    if (target.state === 'frozen') target.backlog.push(fn)
    else fn()
  }

  private publish(node: SimNode, msg: GossipMessage): void {
    this.host.record.hooks.onPublish?.(this.now, node.id, msg)
    let wire: { bytes: number; value: GossipMessage }
    try {
      wire = gossipCodec.transcode(msg, this.checked)
    } catch (err) {
      // The runtime logs "publish failed" and drops the message (over the size limit).
      if (tooLarge(err)) { this.host.record.codecErrors++; return }
      throw err
    }
    if (this.opts.freezeMessages === true) deepFreeze(wire.value)
    this.host.gossip.publish(node.idx, wire.value, wire.bytes, msg.type === 'activity' ? EVENTS : CLUSTER)
  }

  private startProcess(node: SimNode, allocId: string, jobId: string, index: number, spec: JobSpec): void {
    const run: SimRun = { allocId, jobId, index, node: node.id, startedAt: this.now, endedAt: null, resources: spec.resources, exitCode: null }
    this.host.record.runs.push(run)
    node.procs.set(allocId, run)
    this.host.record.hooks.onRunStart?.(run)
    // The job's behaviour comes from its env (see simSpec).
    const duration = Number(spec.env.SIM_DURATION_MS ?? 100)
    const code = Number(spec.env.SIM_EXIT_CODE ?? 0)
    const gen = node.gen
    this.at(this.now + duration, () => { if (node.gen === gen) this.endProcess(node, allocId, code, 'exited') })
  }

  private endProcess(node: SimNode, allocId: string, code: number | null, reason: 'exited' | 'killed'): void {
    const run = node.procs.get(allocId)
    if (run === undefined || node.state === 'down') return
    node.procs.delete(allocId)
    run.endedAt = this.now
    run.exitCode = code
    const ev: CoreEvent = { kind: 'process-exit', exit: { allocId, exitCode: code, signal: code === null ? 'SIGTERM' : null, reason } }
    // The exit is reported asynchronously, like the supervisor's onExit.
    this.deliver(node, ev, 1)
  }

  private sendRpc(from: SimNode, to: NodeId, corr: number, msg: RpcRequest, timeoutMs: number): void {
    const { net, nodes } = this.host
    const target = nodes.find(to)
    const fromGen = from.gen
    this.host.record.hooks.onSend?.(this.now, from.id, to, msg)
    from.awaiting.add(corr)
    this.failLater(from, fromGen, to, corr, 'timeout', timeoutMs)
    let wire: { bytes: number; value: RpcRequest }
    try {
      wire = rpcRequestCodec.transcode(msg, this.checked)
    } catch (err) {
      // The runtime's send() catches the codec's refusal (a sync over MAX_RPC_BYTES): rpc-failed.
      if (!tooLarge(err)) throw err
      this.host.record.codecErrors++
      this.failLater(from, fromGen, to, corr, 'protocol', 0)
      return
    }
    const decoded = wire.value
    if (this.opts.freezeMessages === true) deepFreeze(decoded)
    if (this.host.record.hooks.dropSend?.(this.now, from.id, to, msg) === true) return
    if (target === from) {
      // libp2p cannot dial itself: the runtime answers a self-addressed request in memory.
      const gen = from.gen
      this.at(this.now, () => this.input(from, gen, () => {
        const reqId = from.nextReqId++
        from.inbound.set(reqId, { from: from.idx, corr, gen })
        this.step(from, { kind: 'rpc-request', from: to, reqId, msg: decoded })
      }))
      return
    }
    if (target === undefined) return
    // A dead process refuses the dial at once (unless a partition swallows the SYN); a cut link
    // or a frozen peer just never answers.
    if (target.state === 'down') {
      if (!net.blocked(from.idx, target.idx)) this.failLater(from, fromGen, to, corr, 'refused', 2 * net.latencyMs(from.idx, target.idx))
      return
    }
    net.transmit(from.idx, target.idx, rpcRequestBytes(wire.bytes), 'rpc', () => {
      const reqId = target.nextReqId++
      target.inbound.set(reqId, { from: from.idx, corr, gen: fromGen })
      this.step(target, { kind: 'rpc-request', from: from.id, reqId, msg: decoded })
    })
  }

  /** The request `corr` of `from` fails after `delay`, unless it was answered (or failed) first. */
  private failLater(from: SimNode, gen: number, to: NodeId, corr: number, reason: 'timeout' | 'refused' | 'protocol', delay: number): void {
    this.host.queue.pushAfter(this.now, delay, () => {
      if (from.gen !== gen || !from.awaiting.has(corr)) return
      this.input(from, gen, () => this.answer(from, corr, { kind: 'rpc-failed', to, corr, reason }))
    })
  }

  /** The answer (or failure) of request `corr` reaches its asker: the first one only. */
  private answer(asker: SimNode, corr: number, ev: CoreEvent): void {
    if (asker.awaiting.delete(corr)) this.step(asker, ev)
  }

  private reply(node: SimNode, reqId: number, msg: Parameters<typeof rpcResponseCodec.encode>[0]): void {
    const req = node.inbound.get(reqId)
    if (req === undefined) return
    node.inbound.delete(reqId)
    const net = this.host.net
    const asker = this.host.nodes.at(req.from)
    if (this.host.record.hooks.dropReply?.(this.now, node.id, asker.id, msg) === true) return
    let wire: { bytes: number; value: RpcResponse }
    try {
      wire = rpcResponseCodec.transcode(msg, this.checked)
    } catch (err) {
      // The server's stream handler throws; the client sees the stream fail.
      if (!tooLarge(err)) throw err
      this.host.record.codecErrors++
      net.transmit(node.idx, asker.idx, rpcResponseBytes(0), 'rpc', () => this.input(asker, req.gen, () => this.answer(asker, req.corr, { kind: 'rpc-failed', to: node.id, corr: req.corr, reason: 'protocol' })))
      return
    }
    const decoded = wire.value
    if (this.opts.freezeMessages === true) deepFreeze(decoded)
    const ev: CoreEvent = { kind: 'rpc-response', from: node.id, corr: req.corr, msg: decoded }
    if (asker === node) this.at(this.now, () => this.input(asker, req.gen, () => this.answer(asker, req.corr, ev)))
    else net.transmit(node.idx, asker.idx, rpcResponseBytes(wire.bytes), 'rpc', () => this.input(asker, req.gen, () => this.answer(asker, req.corr, ev)))
  }
}

/** The codec refused a message over its size limit (anything else it refuses is a bug: thrown on). */
function tooLarge(err: unknown): boolean {
  return err instanceof CodecError && err.code === 'too-large'
}

function deepFreeze(value: unknown): void {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return
  Object.freeze(value)
  for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v)
}
