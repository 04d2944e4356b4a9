// Cores driven by hand: a few real NodeCores whose effects run through the shared
// EffectInterpreter, over a network that is a FIFO of deliveries run one by one. Every message
// crosses the wire codec. No latency, no loss, no timers (a send's guard never fires here: every
// request reaches a core that answers it, or fails at once when its node is unknown); time moves
// by 1 ms per delivery. For tests of a few messages between a few nodes; src/sim is the network
// with time, loss and faults.
import { EffectInterpreter, type EffectPorts } from '../../src/core/effect-interpreter.js'
import type { NodeCore } from '../../src/core/node-core.js'
import type { CoreEvent, Effect, Millis, NodeId, RpcResponse } from '../../src/core/types.js'
import { rpcRequestCodec, rpcResponseCodec } from '../../src/gossip/codec.js'

interface Origin {
  from: NodeId
  corr: number
}

export class HandNetwork {
  private readonly nodes = new Map<NodeId, { core: NodeCore; fx: EffectInterpreter<Origin> }>()
  private readonly queue: Array<() => void> = []
  /** Every reply that crossed the network, in order. */
  readonly answers: RpcResponse[] = []
  now: Millis

  constructor(start: Millis) {
    this.now = start
  }

  /** Add a core and carry out the effects of its creation. */
  add(core: NodeCore, initial: Effect[] = []): void {
    const id = core.selfRecord().id
    const fx = new EffectInterpreter(id, this.ports(id))
    this.nodes.set(id, { core, fx })
    fx.apply(initial)
  }

  /** Hand `ev` to node `id` once the deliveries queued before it ran. */
  deliver(id: NodeId, ev: CoreEvent): void {
    this.queue.push(() => this.step(id, ev))
  }

  /** Run deliveries until none is left; throws after `max` (a loop that does not quiet down). */
  settle(max = 1_000): void {
    for (let i = 0; this.queue.length > 0; i++) {
      if (i >= max) throw new Error(`still busy after ${max} deliveries`)
      ;(this.queue.shift() as () => void)()
    }
  }

  private step(id: NodeId, ev: CoreEvent): void {
    const n = this.nodes.get(id)
    if (n === undefined) return
    n.fx.apply(n.core.step(ev, this.now++))
  }

  private ports(self: NodeId): EffectPorts<Origin> {
    const fx = (): EffectInterpreter<Origin> => (this.nodes.get(self) as { fx: EffectInterpreter<Origin> }).fx
    return {
      persist: (_key, _value, seq) => fx().persisted(seq),
      unpersist: () => undefined,
      publish: () => undefined,
      transmit: (to, corr, msg) => {
        const wire = rpcRequestCodec.decode(rpcRequestCodec.encode(msg))
        this.queue.push(() => {
          const peer = this.nodes.get(to)
          if (peer === undefined) { fx().failed(to, corr, 'unreachable'); return }
          const reqId = peer.fx.received({ from: self, corr })
          this.step(to, { kind: 'rpc-request', from: self, reqId, msg: wire })
        })
      },
      guard: () => undefined,
      transmitReply: (origin, msg) => {
        const wire = rpcResponseCodec.decode(rpcResponseCodec.encode(msg))
        this.answers.push(wire)
        this.queue.push(() => this.nodes.get(origin.from)?.fx.answered(self, origin.corr, wire))
      },
      soon: (fn) => this.queue.push(fn),
      step: (ev) => this.step(self, ev),
      apiReply: () => undefined,
      emit: () => undefined,
      startProcess: () => undefined,
      killProcess: () => undefined,
      removeRun: () => undefined,
    }
  }
}
