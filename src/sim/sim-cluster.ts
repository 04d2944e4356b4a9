// A deterministic discrete-event harness that runs real NodeCores on a simulated network:
// latency, loss, partitions, kill/freeze/thaw. Tests use it for scenario checks; the simulator
// (issue 5) grows from it. Every message crosses the real codec, so sizes are the real ones.
import { NodeCore } from '../core/node-core.js'
import { TEST, type MembershipConfig } from '../core/config.js'
import { Rng } from '../core/rng.js'
import type { ApiReply, JobRecord, JobSpec } from '../core/job-types.js'
import type { ClusterEvent, CoreEvent, Effect, Millis, NodeId, Resources, RpcRequest } from '../core/types.js'
import { gossipCodec, rpcRequestCodec, rpcResponseCodec } from '../gossip/codec.js'

interface Scheduled {
  at: Millis
  order: number
  run: () => void
}

interface SimNode {
  id: NodeId
  core: NodeCore
  state: 'up' | 'frozen' | 'down'
  /** Events that reached a frozen node, delivered when it thaws (its sockets kept them). */
  backlog: CoreEvent[]
  persisted: Map<string, unknown>
  nextReqId: number
  inbound: Map<number, { from: NodeId; corr: number }>
  /** Simulated processes: allocation id -> run record. */
  procs: Map<string, SimRun>
}

/** One simulated process run, for invariant checks (duplicates, overcommit, lost work). */
export interface SimRun {
  allocId: string
  jobId: string
  index: number
  node: NodeId
  startedAt: Millis
  endedAt: Millis | null
  resources: Resources
  exitCode: number | null
}

/**
 * Simulated jobs read their behaviour from env: SIM_DURATION_MS (default 100) and
 * SIM_EXIT_CODE (default 0).
 */
export function simSpec(over: Partial<JobSpec> = {}): JobSpec {
  return {
    name: 'sim', command: ['sim'], env: {}, resources: { cpu: 0.5, memoryMb: 128 }, count: 1, type: 'batch',
    constraints: [], restart: { attempts: 2, backoffMs: 100 }, timeoutMs: 0, ...over,
  }
}

export interface SimOptions {
  seed: number
  config?: MembershipConfig
  /** One-way latency in ms: base + uniform jitter. */
  latencyMs?: number
  jitterMs?: number
  /** Probability that a gossip delivery to one node is lost. */
  gossipLoss?: number
}

export class SimCluster {
  now: Millis = 1_700_000_000_000
  readonly events: Array<{ at: Millis; observer: NodeId; event: ClusterEvent }> = []
  readonly bytes = { gossip: 0, rpc: 0 }
  readonly runs: SimRun[] = []
  readonly replies = new Map<number, ApiReply>()
  private nextApiReq = 1
  private readonly queue: Scheduled[] = []
  private readonly nodes = new Map<NodeId, SimNode>()
  private readonly cuts = new Set<string>()
  private readonly rng: Rng
  private readonly config: MembershipConfig
  private order = 0

  constructor(private readonly opts: SimOptions) {
    this.rng = new Rng(opts.seed)
    this.config = opts.config ?? TEST
  }

  ids(): NodeId[] {
    return [...this.nodes.keys()]
  }

  core(id: NodeId): NodeCore {
    const n = this.nodes.get(id)
    if (n === undefined) throw new Error(`no node ${id}`)
    return n.core
  }

  /** Start a node (or restart one that was killed, from what it persisted). */
  start(id: NodeId, name = id, total: Resources = { cpu: 4, memoryMb: 4096 }, labels: Record<string, string> = {}): void {
    const old = this.nodes.get(id)
    const persisted = old?.persisted ?? new Map<string, unknown>()
    const lastIncarnation = typeof persisted.get('self/incarnation') === 'number' ? persisted.get('self/incarnation') as number : 0
    const storedJobs = [...persisted.entries()].filter(([k]) => k.startsWith('job/')).map(([, v]) => v as JobRecord)
    const { core, effects } = NodeCore.create({
      self: { id, name, addrs: [], api: `sim://${id}`, resources: { total, free: total }, labels, draining: false, allocations: 0 },
      lastIncarnation, config: this.config, seed: this.opts.seed, now: this.now, storedJobs,
    })
    const node: SimNode = { id, core, state: 'up', backlog: [], persisted, nextReqId: 1, inbound: new Map(), procs: new Map() }
    this.nodes.set(id, node)
    this.apply(node, effects)
    this.scheduleTick(node, core)
    // Like a libp2p connection to every peer (the real host builds a full mesh on small clusters).
    for (const other of this.nodes.values()) {
      if (other.id === id || other.state === 'down') continue
      this.deliver(other.id, { kind: 'peer-connected', peer: id }, 1)
      this.deliver(id, { kind: 'peer-connected', peer: other.id }, 1)
    }
  }

  /** SIGKILL: the process is gone, its sockets close, so peers get a disconnect hint. */
  kill(id: NodeId): void {
    const n = this.mustGet(id)
    n.state = 'down'
    n.backlog = []
    // Its processes die with it (the agent's process groups are killed at its next start anyway).
    for (const run of n.procs.values()) run.endedAt = this.now
    n.procs.clear()
    for (const other of this.nodes.values()) {
      if (other.id !== id && other.state !== 'down') this.deliver(other.id, { kind: 'peer-disconnected', peer: id }, 1)
    }
  }

  /** SIGSTOP: nothing is processed, sockets stay open, nobody gets a hint. */
  freeze(id: NodeId): void {
    this.mustGet(id).state = 'frozen'
  }

  /** SIGCONT: the node runs again and sees what queued up while it was frozen. */
  thaw(id: NodeId): void {
    const n = this.mustGet(id)
    n.state = 'up'
    const backlog = n.backlog
    n.backlog = []
    for (const ev of backlog) this.step(n, ev)
  }

  /** A graceful leave (SIGTERM). The node goes down after its leave messages are out. */
  leave(id: NodeId): void {
    const n = this.mustGet(id)
    this.step(n, { kind: 'leave' })
    this.at(this.now + 50, () => { n.state = 'down' })
  }

  /** Submit a job through a node's API; returns the request id (see `replies`). */
  submit(via: NodeId, id: string, spec: JobSpec): number {
    const reqId = this.nextApiReq++
    this.step(this.mustGet(via), { kind: 'api', reqId, req: { op: 'submit', id, spec } })
    return reqId
  }

  cancel(via: NodeId, id: string): number {
    const reqId = this.nextApiReq++
    this.step(this.mustGet(via), { kind: 'api', reqId, req: { op: 'cancel', id } })
    return reqId
  }

  /** Drain `node` (or stop draining it) through `via`'s API; returns the request id. */
  drain(via: NodeId, node: NodeId, enable = true, deadlineMs = 60_000): number {
    const reqId = this.nextApiReq++
    this.step(this.mustGet(via), { kind: 'api', reqId, req: { op: 'drain', node, enable, deadlineMs } })
    return reqId
  }

  /** Cut the link between two nodes in both directions (or heal it). */
  cut(a: NodeId, b: NodeId, on = true): void {
    for (const k of [`${a}|${b}`, `${b}|${a}`]) if (on) this.cuts.add(k); else this.cuts.delete(k)
  }

  /** Run until `until` (absolute simulated time). */
  runUntil(until: Millis): void {
    while (this.queue.length > 0 && (this.queue[0] as Scheduled).at <= until) {
      const next = this.queue.shift() as Scheduled
      this.now = next.at
      next.run()
    }
    this.now = until
  }

  run(ms: number): void {
    this.runUntil(this.now + ms)
  }

  /** Run until `pred` holds, checking after every event; returns the time it took, or throws. */
  runUntilTrue(pred: () => boolean, maxMs: number): number {
    const start = this.now
    const deadline = start + maxMs
    while (!pred()) {
      const next = this.queue[0]
      if (next === undefined || next.at > deadline) throw new Error(`condition not reached within ${maxMs} ms`)
      this.queue.shift()
      this.now = next.at
      next.run()
    }
    return this.now - start
  }

  /** Inject a pause of the node's event loop: its next tick comes `ms` late, and messages wait. */
  stall(id: NodeId, ms: number): void {
    this.freeze(id)
    this.at(this.now + ms, () => this.thaw(id))
  }

  /** Nodes whose persisted state holds the job (its durable copies). */
  storedOn(jobId: string): NodeId[] {
    return [...this.nodes.values()].filter((n) => n.persisted.has(`job/${jobId}`)).map((n) => n.id)
  }

  /**
   * Invariant checks over every simulated run so far: the same instance running twice at once,
   * and a node running more than it declared.
   */
  violations(): { duplicates: string[]; overcommit: string[] } {
    const duplicates: string[] = []
    const overcommit: string[] = []
    const byInstance = new Map<string, SimRun[]>()
    for (const r of this.runs) {
      const k = `${r.jobId}/${r.index}`
      byInstance.set(k, [...(byInstance.get(k) ?? []), r])
    }
    const overlaps = (a: SimRun, b: SimRun): boolean => a.startedAt < (b.endedAt ?? Infinity) && b.startedAt < (a.endedAt ?? Infinity)
    for (const [k, rs] of byInstance) {
      for (let i = 0; i < rs.length; i++) for (let j = i + 1; j < rs.length; j++) {
        if (overlaps(rs[i] as SimRun, rs[j] as SimRun)) duplicates.push(`${k} on ${rs[i]?.node} and ${rs[j]?.node}`)
      }
    }
    for (const n of this.nodes.values()) {
      const total = n.core.selfRecord().resources.total
      const mine = this.runs.filter((r) => r.node === n.id)
      for (const r of mine) {
        const at = r.startedAt
        const concurrent = mine.filter((o) => o.startedAt <= at && (o.endedAt ?? Infinity) > at)
        const cpu = concurrent.reduce((s, o) => s + o.resources.cpu, 0)
        const mem = concurrent.reduce((s, o) => s + o.resources.memoryMb, 0)
        if (cpu > total.cpu + 1e-9 || mem > total.memoryMb + 1e-9) overcommit.push(`${n.id} at ${at}: ${cpu} cpu ${mem} MB`)
      }
    }
    return { duplicates, overcommit }
  }

  stateOf(observer: NodeId, target: NodeId): string | undefined {
    return this.core(observer).records().find((r) => r.id === target)?.state
  }

  // --- internals --------------------------------------------------------------------------------

  private mustGet(id: NodeId): SimNode {
    const n = this.nodes.get(id)
    if (n === undefined) throw new Error(`no node ${id}`)
    return n
  }

  private at(at: Millis, run: () => void): void {
    const item = { at, order: this.order++, run }
    // Binary search keeps the queue ordered by (time, insertion order): deterministic.
    let lo = 0
    let hi = this.queue.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      const m = this.queue[mid] as Scheduled
      if (m.at < at || (m.at === at && m.order < item.order)) lo = mid + 1
      else hi = mid
    }
    this.queue.splice(lo, 0, item)
  }

  private scheduleTick(node: SimNode, core: NodeCore): void {
    this.at(this.now + this.config.tickMs, () => {
      if (node.core !== core || node.state === 'down') return
      if (node.state === 'up') this.step(node, { kind: 'tick' })
      // A frozen node's timers do not fire; on thaw the next tick comes late, as in Node.
      this.scheduleTick(node, core)
    })
  }

  private latency(): number {
    const base = this.opts.latencyMs ?? 1
    return base + (this.opts.jitterMs ?? 0) * this.rng.next()
  }

  private deliver(to: NodeId, ev: CoreEvent, delay: number): void {
    const target = this.nodes.get(to)
    if (target === undefined) return
    const core = target.core
    this.at(this.now + delay, () => {
      if (target.core !== core || target.state === 'down') return
      if (target.state === 'frozen') target.backlog.push(ev)
      else this.step(target, ev)
    })
  }

  private step(node: SimNode, ev: CoreEvent): void {
    const effects = node.core.step(ev, this.now)
    this.apply(node, effects)
  }

  private apply(node: SimNode, effects: Effect[]): void {
    for (const e of effects) {
      switch (e.kind) {
        case 'publish': {
          const bytes = gossipCodec.encode(e.msg)
          for (const other of this.nodes.values()) {
            if (other.id === node.id || other.state === 'down' || this.cuts.has(`${node.id}|${other.id}`)) continue
            if (this.rng.next() < (this.opts.gossipLoss ?? 0)) continue
            this.bytes.gossip += bytes.byteLength
            this.deliver(other.id, { kind: 'gossip', from: node.id, msg: gossipCodec.decode(bytes) }, this.latency())
          }
          break
        }
        case 'send': this.sendRpc(node, e.to, e.corr, e.msg, e.timeoutMs); break
        case 'reply': {
          const req = node.inbound.get(e.reqId)
          if (req === undefined) break
          node.inbound.delete(e.reqId)
          if (this.cuts.has(`${node.id}|${req.from}`)) break
          const bytes = rpcResponseCodec.encode(e.msg)
          this.bytes.rpc += bytes.byteLength
          this.deliver(req.from, { kind: 'rpc-response', from: node.id, corr: req.corr, msg: rpcResponseCodec.decode(bytes) }, this.latency())
          break
        }
        case 'persist': node.persisted.set(e.key, e.value); break
        case 'emit': this.events.push({ at: this.now, observer: node.id, event: e.event }); break
        case 'api-reply': this.replies.set(e.reqId, e.reply); break
        case 'start-process': this.startProcess(node, e.allocId, e.jobId, e.index, e.spec); break
        case 'kill-process': this.endProcess(node, e.allocId, null, 'killed'); break
      }
    }
  }

  private startProcess(node: SimNode, allocId: string, jobId: string, index: number, spec: JobSpec): void {
    const run: SimRun = { allocId, jobId, index, node: node.id, startedAt: this.now, endedAt: null, resources: spec.resources, exitCode: null }
    this.runs.push(run)
    node.procs.set(allocId, run)
    const duration = Number(spec.env.SIM_DURATION_MS ?? 100)
    const code = Number(spec.env.SIM_EXIT_CODE ?? 0)
    const core = node.core
    this.at(this.now + duration, () => { if (node.core === core) this.endProcess(node, allocId, code, 'exited') })
  }

  private endProcess(node: SimNode, allocId: string, code: number | null, reason: 'exited' | 'killed'): void {
    const run = node.procs.get(allocId)
    if (run === undefined || node.state === 'down') return
    node.procs.delete(allocId)
    run.endedAt = this.now
    run.exitCode = code
    const ev: CoreEvent = { kind: 'process-exit', exit: { allocId, exitCode: code, signal: code === null ? 'SIGTERM' : null, reason } }
    // The exit is reported asynchronously, like the supervisor's onExit.
    this.deliver(node.id, ev, 1)
  }

  private sendRpc(from: SimNode, to: NodeId, corr: number, msg: RpcRequest, timeoutMs: number): void {
    const target = this.nodes.get(to)
    const fromCore = from.core
    // The core ignores an rpc-failed whose corr was already answered, so the timeout is always armed.
    const fail = (reason: 'timeout' | 'unreachable', delay: number): void => {
      this.at(this.now + delay, () => {
        if (from.core !== fromCore || from.state === 'down') return
        if (from.state === 'frozen') from.backlog.push({ kind: 'rpc-failed', to, corr, reason })
        else this.step(from, { kind: 'rpc-failed', to, corr, reason })
      })
    }
    // A dead process refuses the dial at once; a cut link or a frozen peer just never answers.
    if (target === undefined || target.state === 'down') return fail('unreachable', 2 * this.latency())
    fail('timeout', timeoutMs)
    if (this.cuts.has(`${from.id}|${to}`)) return
    const bytes = rpcRequestCodec.encode(msg)
    this.bytes.rpc += bytes.byteLength
    const reqId = target.nextReqId++
    target.inbound.set(reqId, { from: from.id, corr })
    this.deliver(to, { kind: 'rpc-request', from: from.id, reqId, msg: rpcRequestCodec.decode(bytes) }, this.latency())
  }
}
