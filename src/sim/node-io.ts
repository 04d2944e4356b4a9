// A simulated node's event loop and what its effects do in the simulated world. Input reaches a
// node through here (ticks, local events, gossip, rpc): at once if it is up, on thaw if it is
// frozen, never if its process died since. The effects its core returns go through the shared
// EffectInterpreter (src/core/effect-interpreter.ts: the disk barrier, one answer per request,
// requests to oneself), whose ports are here: gossip through the real codec into the gossipsub
// model, rpc requests and replies over the network, the data dir, simulated processes.
import type { MembershipConfig } from '../core/config.js'
import { EffectInterpreter, type EffectPorts } from '../core/effect-interpreter.js'
import type { NodeCore } from '../core/node-core.js'
import type { ApiReply, JobSpec } from '../core/job-types.js'
import type { ClusterEvent, CoreEvent, Effect, GossipMessage, Millis, NodeId, Resources, RpcFailure, RpcRequest, RpcResponse } from '../core/types.js'
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
  /** The process's effects (a new one per process start): what it owes, and what waits for its disk. */
  effects: EffectInterpreter<SimOrigin>
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

/** Where a request came from: the asking node's slot, its corr there, and the asking process. */
export interface SimOrigin {
  from: number
  corr: number
  gen: number
}

/** Listeners a runner attaches to measure a run without keeping everything. */
export interface SimHooks {
  onEmit?(at: Millis, observer: NodeId, event: ClusterEvent): void
  onApiReply?(at: Millis, reqId: number, reply: ApiReply): void
  onRunStart?(run: SimRun): void
  /** A node sent a request (message counts and traces by type); `corr` names it among the sender's requests. */
  onSend?(at: Millis, from: NodeId, to: NodeId, msg: RpcRequest, corr: number): void
  /** A node replied to a request of `to` (`corr`: the asker's, as onSend gave it), before dropReply decides its fate. */
  onReply?(at: Millis, from: NodeId, to: NodeId, msg: RpcResponse, corr: number): void
  /** A request failed (timeout, refused, over a size limit): the rpc-failed its sender's core gets now. */
  onFail?(at: Millis, node: NodeId, to: NodeId, corr: number, reason: RpcFailure): void
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

  /** The effects of a new process of node `id` (in slot `slot`), carried out in the simulated world. */
  interpreter(slot: number, id: NodeId): EffectInterpreter<SimOrigin> {
    return new EffectInterpreter(id, new SimPorts(this, this.host.nodes, slot))
  }

  /** Carry out effects a node's core returned (also those of its creation). */
  apply(node: SimNode, effects: Effect[]): void {
    node.effects.apply(effects)
  }

  /** Write to the node's data dir; the write is durable persistMs later, if the process still runs then. */
  persist(node: SimNode, key: string, value: unknown, seq: number): void {
    node.persisted.set(key, value)
    const persistMs = this.opts.persistMs ?? 0
    if (persistMs <= 0) { node.effects.persisted(seq); return }
    const gen = node.gen
    this.at(this.now + persistMs, () => { if (node.gen === gen && node.state !== 'down') node.effects.persisted(seq) })
  }

  emit(node: SimNode, event: ClusterEvent): void {
    const record = this.host.record
    if (this.opts.recordEvents ?? true) record.events.push({ at: this.now, observer: node.id, event })
    record.hooks.onEmit?.(this.now, node.id, event)
  }

  apiReply(reqId: number, reply: ApiReply): void {
    const record = this.host.record
    if (this.opts.recordReplies ?? true) record.replies.set(reqId, reply)
    record.hooks.onApiReply?.(this.now, reqId, reply)
  }

  /** Run `fn` on a node's event loop after what runs now (a request to itself). */
  soon(node: SimNode, fn: () => void): void {
    const gen = node.gen
    this.at(this.now, () => this.input(node, gen, fn))
  }

  /** Run `fn` on a node's event loop: now if it is up, on thaw if frozen, never if it died since. */
  private input(target: SimNode, gen: number, fn: () => void): void {
    if (target.gen !== gen || target.state === 'down') return
    if (target.state === 'frozen') target.backlog.push(fn)
    else fn()
  }

  publish(node: SimNode, msg: GossipMessage): void {
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

  startProcess(node: SimNode, allocId: string, jobId: string, index: number, spec: JobSpec): void {
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

  endProcess(node: SimNode, allocId: string, code: number | null, reason: 'exited' | 'killed'): void {
    const run = node.procs.get(allocId)
    if (run === undefined || node.state === 'down') return
    node.procs.delete(allocId)
    run.endedAt = this.now
    run.exitCode = code
    const ev: CoreEvent = { kind: 'process-exit', exit: { allocId, exitCode: code, signal: code === null ? 'SIGTERM' : null, reason } }
    // The exit is reported asynchronously, like the supervisor's onExit.
    this.deliver(node, ev, 1)
  }

  /** A request over the network to another node (a request to itself never comes here: see EffectInterpreter). */
  transmit(from: SimNode, to: NodeId, corr: number, msg: RpcRequest): void {
    const { net, nodes } = this.host
    const target = nodes.find(to)
    const fromGen = from.gen
    this.host.record.hooks.onSend?.(this.now, from.id, to, msg, corr)
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
    if (target === undefined) return
    // A dead process refuses the dial at once (unless a partition swallows the SYN); a cut link
    // or a frozen peer just never answers.
    if (target.state === 'down') {
      if (!net.blocked(from.idx, target.idx)) this.failLater(from, fromGen, to, corr, 'refused', 2 * net.latencyMs(from.idx, target.idx))
      return
    }
    net.transmit(from.idx, target.idx, rpcRequestBytes(wire.bytes), 'rpc', () => {
      const reqId = target.effects.received({ from: from.idx, corr, gen: fromGen })
      this.step(target, { kind: 'rpc-request', from: from.id, reqId, msg: decoded })
    })
  }

  /** The request `corr` of `from` fails after `delay`, unless it was answered (or failed) first. */
  failLater(from: SimNode, gen: number, to: NodeId, corr: number, reason: RpcFailure, delay: number): void {
    this.host.queue.pushAfter(this.now, delay, () => {
      if (from.gen !== gen || !from.effects.owes(corr)) return
      this.input(from, gen, () => this.fail(from, to, corr, reason))
    })
  }

  private fail(from: SimNode, to: NodeId, corr: number, reason: RpcFailure): void {
    const onFail = this.host.record.hooks.onFail
    if (onFail !== undefined && from.effects.owes(corr)) onFail(this.now, from.id, to, corr, reason)
    from.effects.failed(to, corr, reason)
  }

  /** A reply over the network to the node that asked. */
  transmitReply(node: SimNode, req: SimOrigin, msg: RpcResponse): void {
    const net = this.host.net
    const asker = this.host.nodes.at(req.from)
    this.host.record.hooks.onReply?.(this.now, node.id, asker.id, msg, req.corr)
    if (this.host.record.hooks.dropReply?.(this.now, node.id, asker.id, msg) === true) return
    let wire: { bytes: number; value: RpcResponse }
    try {
      wire = rpcResponseCodec.transcode(msg, this.checked)
    } catch (err) {
      // The server's stream handler throws; the client sees the stream fail.
      if (!tooLarge(err)) throw err
      this.host.record.codecErrors++
      net.transmit(node.idx, asker.idx, rpcResponseBytes(0), 'rpc', () => this.input(asker, req.gen, () => this.fail(asker, node.id, req.corr, 'protocol')))
      return
    }
    const decoded = wire.value
    if (this.opts.freezeMessages === true) deepFreeze(decoded)
    const from = node.id
    net.transmit(node.idx, asker.idx, rpcResponseBytes(wire.bytes), 'rpc', () => this.input(asker, req.gen, () => asker.effects.answered(from, req.corr, decoded)))
  }
}

/**
 * The ports of one node slot's EffectInterpreter: the simulated world's side of each effect. The
 * node is looked up by slot when an effect runs (a restarted process reuses its slot's node).
 */
class SimPorts implements EffectPorts<SimOrigin> {
  constructor(private readonly io: NodeIo, private readonly nodes: SimNodes, private readonly slot: number) {}

  private get node(): SimNode {
    return this.nodes.at(this.slot)
  }

  persist(key: string, value: unknown, seq: number): void { this.io.persist(this.node, key, value, seq) }
  unpersist(key: string): void { this.node.persisted.delete(key) }
  publish(msg: GossipMessage): void { this.io.publish(this.node, msg) }
  transmit(to: NodeId, corr: number, msg: RpcRequest): void { this.io.transmit(this.node, to, corr, msg) }
  // The simulated network keeps no deadline of its own: the guard is the request's timeout.
  guard(to: NodeId, corr: number, ms: number): void {
    const node = this.node
    this.io.failLater(node, node.gen, to, corr, 'timeout', ms)
  }
  transmitReply(origin: SimOrigin, msg: RpcResponse): void { this.io.transmitReply(this.node, origin, msg) }
  soon(fn: () => void): void { this.io.soon(this.node, fn) }
  step(ev: CoreEvent): void { this.io.step(this.node, ev) }
  apiReply(reqId: number, reply: ApiReply): void { this.io.apiReply(reqId, reply) }
  emit(event: ClusterEvent): void { this.io.emit(this.node, event) }
  startProcess(e: Extract<Effect, { kind: 'start-process' }>): void { this.io.startProcess(this.node, e.allocId, e.jobId, e.index, e.spec) }
  killProcess(e: Extract<Effect, { kind: 'kill-process' }>): void { this.io.endProcess(this.node, e.allocId, null, 'killed') }
  // A simulated run leaves no files.
  removeRun(): void {}
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
