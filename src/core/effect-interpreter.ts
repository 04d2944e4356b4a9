// The rules every driver of a NodeCore keeps when it carries out the core's effects, in one place:
// src/node/core-runtime.ts (libp2p, LevelDB, child processes), src/sim/node-io.ts (the simulated
// world) and tests that drive cores by hand all run their effects through this.
//
// - The persist barrier: once a batch of effects has persisted something, its later sends,
//   replies and API replies wait until that write is durable. Nothing is acknowledged before it
//   is on disk. An answer the core marks `afterAllWrites` waits for every write made before it,
//   in earlier batches too: the answer to a submit whose copies left ahead of the node's own
//   write (job-submit.ts). Events (the local stream, and
//   the activity digests that carry them to other nodes' streams) tell what a step decided, so
//   they wait for every write up to their batch's last: told first, a SIGKILL before the write
//   could make the restarted node tell the opposite (a success, then the run again). The rest
//   (other gossip, processes) goes at once.
// - A request a node sends to itself is answered in memory (libp2p cannot dial itself): it comes
//   back to the core as an rpc-request, and its reply as the rpc-response, on a later turn of the
//   node's event loop, never inside the step that sent it.
// - Every send gets exactly one rpc-response or rpc-failed: the first outcome wins (the transport's
//   answer, its failure, or the guard that fails it `guardSlackMs` after its own deadline), and
//   later ones are dropped without waking the core.
// - Every inbound request gets exactly one reply: the core's first, or the driver's own (a time
//   limit, a node stopping); later ones are dropped.
//
// The ports do the I/O (or the simulation of it); this is sequencing and bookkeeping only, with
// no clock and no timer of its own. It allocates nothing per effect on the common path: the
// simulator runs millions of effects through it.
import type { ApiReply } from './job-types.js'
import type { ClusterEvent, CoreEvent, Effect, GossipMessage, NodeId, RpcFailure, RpcRequest, RpcResponse } from './types.js'

/** Any effect but a write (writes are sequenced in `apply`). */
type Unwritten = Exclude<Effect, { kind: 'persist' }>

/** What the interpreter needs of its driver: the I/O itself, and the way back into the core. */
export interface EffectPorts<Origin> {
  /**
   * Write `value` under `key` durably, in order with earlier writes, and call the interpreter's
   * `persisted(seq)` once it is (at once, from inside this call, when writes are instantaneous).
   * A write that failed is never reported: what waits on it stays held.
   */
  persist(key: string, value: unknown, seq: number): void
  /** Delete a stored value, in order with the writes. */
  unpersist(key: string): void
  publish(msg: GossipMessage): void
  /** Carry a request to another node; report its outcome with `answered` or `failed`. */
  transmit(to: NodeId, corr: number, msg: RpcRequest, timeoutMs: number): void
  /** Call `failed(to, corr, 'timeout')` after `ms` (the interpreter ignores it when the send was settled). */
  guard(to: NodeId, corr: number, ms: number): void
  /** Carry the reply to an inbound request back to where it came from (`received`'s origin). */
  transmitReply(origin: Origin, msg: RpcResponse): void
  /** Run `fn` on this node's event loop after what runs now (a request to itself, and its reply). */
  soon(fn: () => void): void
  /** Feed one event to the core and hand its effects to `apply`. */
  step(ev: CoreEvent): void
  apiReply(reqId: number, reply: ApiReply): void
  /** `heard`: the event is another node's (see the emit effect). */
  emit(event: ClusterEvent, heard: boolean): void
  startProcess(e: Extract<Effect, { kind: 'start-process' }>): void
  killProcess(e: Extract<Effect, { kind: 'kill-process' }>): void
  /** Delete what a run left on this node (its directory and logs). */
  removeRun(allocId: string): void
}

/** One node process's effects: what is held behind writes, owed an answer, owed a reply. */
export class EffectInterpreter<Origin> {
  /** Sends still owed an answer or a failure, by corr. */
  private readonly owed = new Set<number>()
  /** Inbound requests from other nodes still owed a reply, by the reqId the core knows them by. */
  private readonly inbound = new Map<number, Origin>()
  /** Requests this node sent itself still owed a reply: reqId -> the corr of the send. */
  private readonly loopedBack = new Map<number, number>()
  private nextReqId = 1
  /** The last write's sequence number; `unwritten`: those not durable yet. */
  private writes = 0
  private readonly unwritten = new Set<number>()
  /** Effects waiting for a write: write seq -> what came after it in its batch (before the next write). */
  private readonly held = new Map<number, Unwritten[]>()

  constructor(
    private readonly selfId: NodeId,
    private readonly ports: EffectPorts<Origin>,
    /**
     * How long after a send's own deadline its guard fails it. A transport that keeps its
     * deadlines (the simulator's) needs 0: the guard is the timeout. A real one gets a margin,
     * so that the guard only catches a call that hangs past its signal.
     */
    private readonly guardSlackMs = 0,
  ) {}

  /** Carry out one step's effects, in order, behind the persist barrier. */
  apply(effects: readonly Effect[]): void {
    // The newest write of this batch (0: none yet): sends and replies after it wait for it. A
    // later batch does not wait for this one's writes, but for a reply that says so (see 'reply').
    let barrier = 0
    // What events wait for: the batch's last write, or the newest write still unwritten.
    let told = this.writes
    for (let i = 0; i < effects.length; i++) if ((effects[i] as Effect).kind === 'persist') told++
    for (let i = 0; i < effects.length; i++) {
      const e = effects[i] as Effect
      switch (e.kind) {
        case 'persist':
          barrier = ++this.writes
          this.unwritten.add(barrier)
          this.ports.persist(e.key, e.value, barrier)
          break
        // The three that acknowledge something, each dispatched here (the simulator's hot path).
        case 'send':
          if (barrier !== 0 && this.unwritten.has(barrier)) this.hold(barrier, e)
          else this.send(e.to, e.corr, e.msg, e.timeoutMs)
          break
        // afterAllWrites: the newest write, in any batch (writes become durable in order, so once
        // it is, every earlier one is). Not for every reply: under load a write is nearly always
        // under way, and each answer would wait a batch or two for writes it does not depend on.
        case 'reply': {
          const after = e.afterAllWrites === true ? this.writes : barrier
          if (this.notDurable(after)) this.hold(after, e)
          else this.reply(e.reqId, e.msg)
          break
        }
        case 'api-reply': {
          const after = e.afterAllWrites === true ? this.writes : barrier
          if (this.notDurable(after)) this.hold(after, e)
          else this.ports.apiReply(e.reqId, e.reply)
          break
        }
        case 'emit':
          if (this.notDurable(told)) this.hold(told, e)
          else this.ports.emit(e.event, e.heard === true)
          break
        case 'publish':
          if (e.msg.type === 'activity' && this.notDurable(told)) this.hold(told, e)
          else this.ports.publish(e.msg)
          break
        default:
          this.run(e)
      }
    }
  }

  /** Write `seq` is durable: what waited for it goes (writes are reported in order, so the earlier ones are too). */
  persisted(seq: number): void {
    if (!this.unwritten.delete(seq)) return
    const waiting = this.held.get(seq)
    if (waiting === undefined) return
    this.held.delete(seq)
    for (const e of waiting) this.run(e)
  }

  /** A request from another node arrived; returns the reqId to give the core with it. */
  received(origin: Origin): number {
    const reqId = this.nextReqId++
    this.inbound.set(reqId, origin)
    return reqId
  }

  /** Reply to an inbound request, unless it was replied to already (the core's reply, or the driver's limit). */
  reply(reqId: number, msg: RpcResponse): void {
    const origin = this.inbound.get(reqId)
    if (origin !== undefined) {
      this.inbound.delete(reqId)
      this.ports.transmitReply(origin, msg)
      return
    }
    const corr = this.loopedBack.get(reqId)
    if (corr === undefined) return
    this.loopedBack.delete(reqId)
    this.ports.soon(() => this.answered(this.selfId, corr, msg))
  }

  /** Reply to every inbound request still waiting (the node stops). */
  replyAll(msg: RpcResponse): void {
    for (const reqId of [...this.inbound.keys()]) this.reply(reqId, msg)
  }

  /** The answer to send `corr` came: to the core, unless the send was settled already. */
  answered(from: NodeId, corr: number, msg: RpcResponse): void {
    if (this.owed.delete(corr)) this.ports.step({ kind: 'rpc-response', from, corr, msg })
  }

  /** Send `corr` failed: to the core, unless the send was settled already. */
  failed(to: NodeId, corr: number, reason: RpcFailure): void {
    if (this.owed.delete(corr)) this.ports.step({ kind: 'rpc-failed', to, corr, reason })
  }

  /** Whether send `corr` still waits for its outcome (a driver may skip work for a settled one). */
  owes(corr: number): boolean {
    return this.owed.has(corr)
  }

  /** Sends owed an outcome, inbound requests owed a reply, effects held behind writes (leak checks, tests). */
  get pending(): { sends: number; requests: number; held: number } {
    let held = 0
    for (const list of this.held.values()) held += list.length
    return { sends: this.owed.size, requests: this.inbound.size + this.loopedBack.size, held }
  }

  /** Whether write `seq` is still to come or under way (0: no write, nothing to wait for). */
  private notDurable(seq: number): boolean {
    return seq > this.writes || this.unwritten.has(seq)
  }

  private hold(seq: number, e: Unwritten): void {
    const waiting = this.held.get(seq)
    if (waiting === undefined) this.held.set(seq, [e])
    else waiting.push(e)
  }

  private run(e: Unwritten): void {
    const ports = this.ports
    switch (e.kind) {
      case 'publish': ports.publish(e.msg); break
      case 'send': this.send(e.to, e.corr, e.msg, e.timeoutMs); break
      case 'reply': this.reply(e.reqId, e.msg); break
      case 'api-reply': ports.apiReply(e.reqId, e.reply); break
      case 'unpersist': ports.unpersist(e.key); break
      case 'remove-run': ports.removeRun(e.allocId); break
      case 'emit': ports.emit(e.event, e.heard === true); break
      case 'start-process': ports.startProcess(e); break
      case 'kill-process': ports.killProcess(e); break
    }
  }

  private send(to: NodeId, corr: number, msg: RpcRequest, timeoutMs: number): void {
    this.owed.add(corr)
    this.ports.guard(to, corr, timeoutMs + this.guardSlackMs)
    if (to !== this.selfId) {
      this.ports.transmit(to, corr, msg, timeoutMs)
      return
    }
    // libp2p cannot dial itself: the request comes back in memory, as if from a peer.
    this.ports.soon(() => {
      const reqId = this.nextReqId++
      this.loopedBack.set(reqId, corr)
      this.ports.step({ kind: 'rpc-request', from: to, reqId, msg })
    })
  }
}
