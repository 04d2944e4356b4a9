// A deterministic discrete-event harness that runs real NodeCores on a simulated network: per-link
// latency, loss, partitions, a gossipsub model, simulated processes, and faults (kill, restart from
// persisted state, freeze/thaw, graceful leave). Every message crosses the real codec, so sizes are
// the real ones; the same seed replays the same run.
import { NodeCore } from '../core/node-core.js'
import { TEST, type MembershipConfig } from '../core/config.js'
import type { JobsConfig } from '../core/jobs-config.js'
import { Rng, seedFromString } from '../core/rng.js'
import type { ApiReply, JobRecord, JobSpec } from '../core/job-types.js'
import type { ClusterEvent, CoreEvent, Effect, GossipMessage, Millis, NodeId, Resources, RpcRequest } from '../core/types.js'
import { CodecError, gossipCodec, rpcRequestCodec, rpcResponseCodec } from '../gossip/codec.js'
import { EventQueue } from './event-queue.js'
import { GOSSIPSUB_DEFAULTS, Gossipsub, type GossipMsg, type GossipsubParams } from './gossipsub.js'
import { Histogram } from './histogram.js'
import { checkDuplicates, checkOvercommit, type DuplicateCheck, type Impairment, type SimRun } from './invariants.js'
import { DEFAULT_LINKS, Network, type LinkOptions, type NodeRunState } from './network.js'
import { rpcRequestBytes, rpcResponseBytes } from './wire-sizes.js'

export type { SimRun } from './invariants.js'

/**
 * Simulated jobs read their behaviour from env: SIM_DURATION_MS (default 100) and
 * SIM_EXIT_CODE (default 0).
 */
/**
 * A stand-in for a libp2p peer id of node `i`: the length and alphabet of a real ed25519 one
 * ("12D3KooW" + 44 base58 characters), so ids weigh on the wire what real ones do.
 */
export function peerIdLike(i: number): string {
  const alphabet = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'
  const rng = new Rng(seedFromString(`peer/${i}`))
  let out = '12D3KooW'
  for (let k = 0; k < 44; k++) out += alphabet[rng.int(alphabet.length)]
  return out
}

export function simSpec(over: Partial<JobSpec> = {}): JobSpec {
  return {
    name: 'sim', command: ['sim'], env: {}, resources: { cpu: 0.5, memoryMb: 128 }, count: 1, type: 'batch',
    constraints: [], restart: { attempts: 2, backoffMs: 100 }, timeoutMs: 0, ...over,
  }
}

export interface SimOptions {
  seed: number
  config?: MembershipConfig
  jobsConfig?: JobsConfig
  /** Shorthand (the first harness's): one-way latency base, ms; with it, jitter is uniform and links equal. */
  latencyMs?: number
  /** Shorthand: uniform jitter in [0, jitterMs). */
  jitterMs?: number
  /** Shorthand: probability that one gossip frame is lost. */
  gossipLoss?: number
  links?: Partial<LinkOptions>
  gossipsub?: Partial<GossipsubParams>
  /**
   * Most connections a node opens when it joins (libp2p's connectionManager.maxConnections is
   * 300). Below that, nodes form a full mesh, as murmur's discovery does.
   */
  maxConnections?: number
  /** Disk write time: effects after a persist in the same batch wait this long (the runtime's barrier). */
  persistMs?: number
  /** Keep every emitted cluster event in `events` (tests read it; big runs turn it off). */
  recordEvents?: boolean
  /**
   * Deep-freeze every decoded message before a core sees it. Gossip is decoded once and shared by
   * every receiver here; a core that mutated a received message would then throw instead of
   * silently changing other nodes' copies.
   */
  freezeMessages?: boolean
  /** Allowed lag between a fault and the duplicate runs it causes (see invariants.ts). */
  duplicateCheck?: DuplicateCheck
}

interface SimNode {
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
  /** Simulated processes: allocation id -> run record. */
  procs: Map<string, SimRun>
}

/** Listeners a runner attaches to measure a run without keeping everything. */
export interface SimHooks {
  onEmit?(at: Millis, observer: NodeId, event: ClusterEvent): void
  onApiReply?(at: Millis, reqId: number, reply: ApiReply): void
  onRunStart?(run: SimRun): void
}

const START_TIME = 1_700_000_000_000

export class SimCluster {
  readonly clock = { now: START_TIME }
  readonly events: Array<{ at: Millis; observer: NodeId; event: ClusterEvent }> = []
  readonly runs: SimRun[] = []
  readonly replies = new Map<number, ApiReply>()
  readonly impairments: Impairment[] = []
  readonly hooks: SimHooks = {}
  /** Publish-to-first-delivery delay of cluster-topic gossip, per receiving node. */
  gossipDelay = new Histogram()
  readonly queue = new EventQueue()
  readonly net: Network
  readonly gossip: Gossipsub
  /** Events run so far (for progress and cost figures). */
  eventsRun = 0
  /** Messages the codec refused to encode (over a size limit): the runtime drops or fails them. */
  codecErrors = 0
  private nextApiReq = 1
  private readonly byIdx: SimNode[] = []
  private readonly nodes = new Map<NodeId, SimNode>()
  private readonly rng: Rng
  private readonly config: MembershipConfig
  private readonly openImpairments = new Map<string, Impairment>()
  private readonly partitionSides = new Map<number, NodeId[]>()

  constructor(private readonly opts: SimOptions) {
    this.rng = new Rng(opts.seed ^ seedFromString('cluster'))
    this.config = opts.config ?? TEST
    const shorthand = opts.latencyMs !== undefined || opts.jitterMs !== undefined
    const links: LinkOptions = {
      ...DEFAULT_LINKS,
      ...(shorthand ? { baseMs: opts.latencyMs ?? 1, jitterMs: opts.jitterMs ?? 0, jitter: 'uniform', linkSpread: 0 } : {}),
      ...(opts.gossipLoss === undefined ? {} : { gossipLoss: opts.gossipLoss }),
      ...opts.links,
    }
    const table = {
      runState: (i: number): NodeRunState => this.byIdx[i]?.state ?? 'down',
      generation: (i: number): number => this.byIdx[i]?.gen ?? -1,
      backlog: (i: number, fn: () => void): void => { this.byIdx[i]?.backlog.push(fn) },
    }
    this.net = new Network(this.queue, this.clock, table, links, opts.seed)
    this.gossip = new Gossipsub({
      clock: this.clock, queue: this.queue, net: this.net,
      runState: table.runState, generation: table.generation,
      nodeCount: () => this.byIdx.length,
      deliver: (i, msg) => this.deliverGossip(i, msg),
    }, { ...GOSSIPSUB_DEFAULTS, ...opts.gossipsub }, opts.seed)
  }

  get now(): Millis {
    return this.clock.now
  }

  ids(): NodeId[] {
    return [...this.nodes.keys()]
  }

  /** Nodes whose process runs (up or frozen). */
  liveIds(): NodeId[] {
    return this.byIdx.filter((n) => n.state !== 'down').map((n) => n.id)
  }

  upIds(): NodeId[] {
    return this.byIdx.filter((n) => n.state === 'up').map((n) => n.id)
  }

  runState(id: NodeId): NodeRunState {
    return this.mustGet(id).state
  }

  /** The node's process generation: changes when it is killed or (re)started. */
  generation(id: NodeId): number {
    return this.mustGet(id).gen
  }

  indexOf(id: NodeId): number {
    return this.mustGet(id).idx
  }

  idAt(idx: number): NodeId {
    const n = this.byIdx[idx]
    if (n === undefined) throw new Error(`no node #${idx}`)
    return n.id
  }

  nodeCount(): number {
    return this.byIdx.length
  }

  core(id: NodeId): NodeCore {
    return this.mustGet(id).core
  }

  /** Declared capacity of every node. */
  totals(): Map<NodeId, Resources> {
    return new Map(this.byIdx.map((n) => [n.id, n.total]))
  }

  /** The processes a node runs now. */
  procsOn(id: NodeId): SimRun[] {
    return [...this.mustGet(id).procs.values()]
  }

  /**
   * Start a node, or restart a killed one from what it persisted: its stored jobs and its last
   * incarnation, as src/node/agent.ts reads them from the data dir. It connects to the running
   * nodes (all of them, or a seeded sample of maxConnections), and both ends hear `peer-connected`.
   */
  start(id: NodeId, name = id, total: Resources = { cpu: 4, memoryMb: 4096 }, labels: Record<string, string> = {}): void {
    const node = this.createNode(id, name, total, labels)
    const others = this.byIdx.filter((o) => o.idx !== node.idx && o.state !== 'down')
    const cap = this.opts.maxConnections ?? 300
    const peers = others.length <= cap ? others : this.rng.sample(others, cap)
    for (const other of peers) {
      this.gossip.connect(node.idx, other.idx)
      // The connection is up after a handshake (~2 round trips); both ends then hear of it.
      const delay = 4 * this.net.linkBaseMs(node.idx, other.idx)
      this.deliver(other, { kind: 'peer-connected', peer: id }, delay)
      this.deliver(node, { kind: 'peer-connected', peer: other.id }, delay)
    }
  }

  /** Restart a killed node with the name, capacity and labels it had. */
  restart(id: NodeId): void {
    const n = this.mustGet(id)
    if (n.state !== 'down') throw new Error(`${id} is running; kill it first`)
    this.start(id, n.name, n.total, n.labels)
  }

  /**
   * Bring up many nodes as a cluster that has been running for a while: every node knows every
   * other's record (handed over directly, not gossiped: a shortcut past the join storm, which
   * costs O(N^2) syncs of O(N) tables), connections and gossipsub meshes are in place. Nodes are
   * created `spreadMs / N` apart so that their periodic timers (sync, announce) are spread out.
   */
  bootWarm(nodes: ReadonlyArray<{ id: NodeId; name?: string; total?: Resources; labels?: Record<string, string> }>, spreadMs: number): void {
    const created: SimNode[] = []
    const step = nodes.length > 0 ? spreadMs / nodes.length : 0
    for (const spec of nodes) {
      created.push(this.createNode(spec.id, spec.name ?? spec.id, spec.total ?? { cpu: 4, memoryMb: 4096 }, spec.labels ?? {}))
      // Random gaps (mean `step`), so tick phases are not all multiples of one interval.
      this.run(2 * step * this.rng.next())
    }
    const records = created.map((c) => c.core.selfRecord())
    for (const c of created) this.step(c, { kind: 'gossip', from: c.id, msg: { type: 'records', records } })
    const cap = this.opts.maxConnections ?? 300
    const idxs = created.map((c) => c.idx)
    if (created.length - 1 <= cap) {
      for (let i = 0; i < idxs.length; i++) for (let j = i + 1; j < idxs.length; j++) this.gossip.connect(idxs[i] as number, idxs[j] as number)
    } else {
      // A random graph of average degree ~cap: each node dials cap/2 others.
      for (const a of idxs) for (const b of this.rng.sample(idxs, Math.ceil(cap / 2) + 1)) if (a !== b) this.gossip.connect(a, b)
    }
    this.gossip.warmMeshes(idxs)
  }

  /** SIGKILL: the process is gone, its sockets close, so connected peers get a disconnect hint. */
  kill(id: NodeId): void {
    const n = this.mustGet(id)
    if (n.state === 'down') return
    if (n.state === 'frozen') this.closeImpairment(id, 'freeze')
    const peers = this.peersOf(n)
    n.state = 'down'
    n.gen++
    n.backlog = []
    // Its processes die with it (the agent's process groups are killed at its next start anyway).
    for (const run of n.procs.values()) run.endedAt = this.now
    n.procs.clear()
    n.inbound.clear()
    this.gossip.stopNode(n.idx)
    for (const p of peers) {
      const other = this.byIdx[p] as SimNode
      this.deliver(other, { kind: 'peer-disconnected', peer: id }, this.net.latencyMs(n.idx, p))
    }
  }

  /** SIGSTOP: nothing is processed, sockets stay open, nobody gets a hint. */
  freeze(id: NodeId): void {
    const n = this.mustGet(id)
    if (n.state !== 'up') return
    n.state = 'frozen'
    this.openImpairment(id, 'freeze')
  }

  /** SIGCONT: the node runs again and sees what queued up while it was frozen. */
  thaw(id: NodeId): void {
    const n = this.mustGet(id)
    if (n.state !== 'frozen') return
    n.state = 'up'
    this.closeImpairment(id, 'freeze')
    const backlog = n.backlog
    n.backlog = []
    for (const fn of backlog) {
      if (n.state !== 'up') break
      fn()
    }
  }

  /** A graceful leave (SIGTERM). The node goes down after its leave messages are out. */
  leave(id: NodeId): void {
    const n = this.mustGet(id)
    this.step(n, { kind: 'leave' })
    const gen = n.gen
    this.at(this.now + 50, () => { if (n.gen === gen) this.kill(id) })
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

  /** Drain `node` (or stop draining it) through `via`'s API; returns the request id. (Used by test/unit/resilience.sim.test.ts: keep it.) */
  drain(via: NodeId, node: NodeId, enable = true, deadlineMs = 60_000): number {
    const reqId = this.nextApiReq++
    this.step(this.mustGet(via), { kind: 'api', reqId, req: { op: 'drain', node, enable, deadlineMs } })
    return reqId
  }

  /** Cut the link between two nodes in both directions (or heal it). */
  cut(a: NodeId, b: NodeId, on = true): void {
    this.net.cut(this.indexOf(a), this.indexOf(b), on)
    const key = (x: NodeId, y: NodeId): string => `${x}|${y}`
    for (const [x, y] of [[a, b], [b, a]] as const) {
      if (on) this.openImpairment(x, 'cut', key(x, y))
      else this.closeImpairment(x, 'cut', key(x, y))
    }
  }

  /** Cut `side` off from everyone else until heal(); returns the partition's id. */
  partition(side: readonly NodeId[]): number {
    const id = this.net.partition(side.map((s) => this.indexOf(s)))
    this.partitionSides.set(id, [...side])
    // Both sides lose part of the cluster; either may reschedule the other's work.
    for (const n of this.byIdx) this.openImpairment(n.id, 'partition', String(id))
    return id
  }

  heal(partitionId: number): void {
    this.net.heal(partitionId)
    this.partitionSides.delete(partitionId)
    for (const n of this.byIdx) this.closeImpairment(n.id, 'partition', String(partitionId))
  }

  /** Run until `until` (absolute simulated time). */
  runUntil(until: Millis): void {
    for (;;) {
      const t = this.queue.peekTime()
      if (t === undefined || t > until) break
      this.runNext()
    }
    this.clock.now = Math.max(this.clock.now, until)
  }

  run(ms: number): void {
    this.runUntil(this.now + ms)
  }

  /** Run until `pred` holds, checking after every event; returns the time it took, or throws. */
  runUntilTrue(pred: () => boolean, maxMs: number): number {
    const start = this.now
    const deadline = start + maxMs
    while (!pred()) {
      const t = this.queue.peekTime()
      if (t === undefined || t > deadline) throw new Error(`condition not reached within ${maxMs} ms`)
      this.runNext()
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
    return this.byIdx.filter((n) => n.persisted.has(`job/${jobId}`)).map((n) => n.id)
  }

  /** Whether a live node's core or data dir still holds the job. */
  holds(id: NodeId, jobId: string): boolean {
    const n = this.mustGet(id)
    return n.persisted.has(`job/${jobId}`) || n.core.jobRecord(jobId) !== undefined
  }

  /**
   * Invariant checks over every simulated run so far: the same instance running twice at once
   * (unless a fault explains it and it was stopped in time), and a node running more than it declared.
   */
  violations(): { duplicates: string[]; overcommit: string[] } {
    return { duplicates: this.duplicateReport().violations, overcommit: checkOvercommit(this.runs, this.totals(), this.now) }
  }

  duplicateReport(): { violations: string[]; fenced: string[] } {
    return checkDuplicates(this.runs, this.impairments, this.now, this.opts.duplicateCheck)
  }

  stateOf(observer: NodeId, target: NodeId): string | undefined {
    return this.core(observer).records().find((r) => r.id === target)?.state
  }

  /** Start the gossip counters and delay histogram afresh (a measurement window begins). */
  resetGossipStats(): void {
    this.gossipDelay = new Histogram()
    const stats = this.gossip.stats as unknown as Record<string, number>
    for (const k of Object.keys(stats)) stats[k] = 0
  }

  /** Schedule a callback at an absolute simulated time (fault plans, measurements). */
  at(at: Millis, run: () => void): void {
    this.queue.push(at, run)
  }

  // --- internals --------------------------------------------------------------------------------

  private runNext(): void {
    const next = this.queue.pop()
    if (next === undefined) return
    this.clock.now = next.at
    this.eventsRun++
    next.run()
  }

  private mustGet(id: NodeId): SimNode {
    const n = this.nodes.get(id)
    if (n === undefined) throw new Error(`no node ${id}`)
    return n
  }

  private createNode(id: NodeId, name: string, total: Resources, labels: Record<string, string>): SimNode {
    const old = this.nodes.get(id)
    if (old !== undefined && old.state !== 'down') throw new Error(`${id} is already running`)
    const persisted = old?.persisted ?? new Map<string, unknown>()
    const inc = persisted.get('self/incarnation')
    const lastIncarnation = typeof inc === 'number' ? inc : 0
    const storedJobs = [...persisted.entries()].filter(([k]) => k.startsWith('job/')).map(([, v]) => v as JobRecord)
    // Addresses shaped like a real agent's, so records weigh what they weigh on the wire.
    const slot = old?.idx ?? this.byIdx.length
    const ip = `10.${(slot >> 16) & 255}.${(slot >> 8) & 255}.${slot & 255}`
    const { core, effects } = NodeCore.create({
      self: { id, name, addrs: [`/ip4/${ip}/tcp/7000/p2p/${id}`], api: `http://${ip}:7070`, resources: { total, free: total }, labels, draining: false, allocations: 0 },
      lastIncarnation, config: this.config, seed: this.opts.seed, now: this.now, storedJobs,
      ...(this.opts.jobsConfig === undefined ? {} : { jobsConfig: this.opts.jobsConfig }),
    })
    const node: SimNode = old ?? {
      idx: this.byIdx.length, id, name, total, labels, core, state: 'up', gen: 0, backlog: [], persisted,
      nextReqId: 1, inbound: new Map(), procs: new Map(),
    }
    Object.assign(node, { name, total, labels, core, state: 'up', backlog: [], nextReqId: 1 })
    node.gen++
    if (old === undefined) {
      this.byIdx.push(node)
      this.nodes.set(id, node)
      this.net.traffic.ensure(this.byIdx.length)
    }
    this.gossip.startNode(node.idx)
    this.apply(node, effects)
    this.scheduleTick(node, node.gen, this.now + this.config.tickMs)
    return node
  }

  private peersOf(n: SimNode): number[] {
    return this.gossip.peersOf(n.idx)
  }

  private openImpairment(node: NodeId, kind: Impairment['kind'], key = ''): void {
    const k = `${node}|${kind}|${key}`
    if (this.openImpairments.has(k)) return
    const imp: Impairment = { node, kind, from: this.now, to: Infinity }
    this.impairments.push(imp)
    this.openImpairments.set(k, imp)
  }

  private closeImpairment(node: NodeId, kind: Impairment['kind'], key = ''): void {
    const k = `${node}|${kind}|${key}`
    const imp = this.openImpairments.get(k)
    if (imp === undefined) return
    imp.to = this.now
    this.openImpairments.delete(k)
  }

  private scheduleTick(node: SimNode, gen: number, at: Millis): void {
    this.at(at, () => {
      if (node.gen !== gen || node.state === 'down') return
      if (node.state === 'up') this.step(node, { kind: 'tick' })
      // A frozen node's timers do not fire; on thaw the next tick comes late, as in Node.
      this.scheduleTick(node, gen, at + this.config.tickMs)
    })
  }

  /** A local event (connection news, a process exit) reaching a node after `delay`. */
  private deliver(target: SimNode, ev: CoreEvent, delay: number): void {
    const gen = target.gen
    this.at(this.now + delay, () => this.input(target, gen, () => this.step(target, ev)))
  }

  /** Run `fn` on a node's event loop: now if it is up, on thaw if frozen, never if it died since. */
  private input(target: SimNode, gen: number, fn: () => void): void {
    if (target.gen !== gen || target.state === 'down') return
    if (target.state === 'frozen') target.backlog.push(fn)
    else fn()
  }

  private deliverGossip(idx: number, msg: GossipMsg): void {
    const node = this.byIdx[idx] as SimNode
    this.gossipDelay.add(this.now - msg.publishedAt)
    this.step(node, { kind: 'gossip', from: (this.byIdx[msg.origin] as SimNode).id, msg: msg.payload as GossipMessage })
  }

  private step(node: SimNode, ev: CoreEvent): void {
    const effects = node.core.step(ev, this.now)
    this.apply(node, effects)
  }

  private apply(node: SimNode, effects: Effect[]): void {
    const persistMs = this.opts.persistMs ?? 0
    let barrier = false
    const gen = node.gen
    // Effects after a persist wait for the disk, as the runtime's barrier makes them.
    const after = (fn: () => void): void => {
      if (!barrier || persistMs <= 0) fn()
      else this.at(this.now + persistMs, () => { if (node.gen === gen && node.state !== 'down') fn() })
    }
    for (const e of effects) {
      switch (e.kind) {
        case 'publish': this.publish(node, e.msg); break
        case 'send': after(() => this.sendRpc(node, e.to, e.corr, e.msg, e.timeoutMs)); break
        case 'reply': after(() => this.reply(node, e.reqId, e.msg)); break
        case 'persist': node.persisted.set(e.key, e.value); barrier = true; break
        case 'emit':
          if (this.opts.recordEvents ?? true) this.events.push({ at: this.now, observer: node.id, event: e.event })
          this.hooks.onEmit?.(this.now, node.id, e.event)
          break
        case 'api-reply': after(() => {
          this.replies.set(e.reqId, e.reply)
          this.hooks.onApiReply?.(this.now, e.reqId, e.reply)
        }); break
        case 'start-process': this.startProcess(node, e.allocId, e.jobId, e.index, e.spec); break
        case 'kill-process': this.endProcess(node, e.allocId, null, 'killed'); break
      }
    }
  }

  private publish(node: SimNode, msg: GossipMessage): void {
    let bytes: Uint8Array
    try {
      bytes = gossipCodec.encode(msg)
    } catch (err) {
      // The runtime logs "publish failed" and drops the message (e.g. over the size limit).
      if (err instanceof CodecError) { this.codecErrors++; return }
      throw err
    }
    const decoded = gossipCodec.decode(bytes)
    if (this.opts.freezeMessages === true) deepFreeze(decoded)
    this.gossip.publish(node.idx, decoded, bytes.byteLength)
  }

  private startProcess(node: SimNode, allocId: string, jobId: string, index: number, spec: JobSpec): void {
    const run: SimRun = { allocId, jobId, index, node: node.id, startedAt: this.now, endedAt: null, resources: spec.resources, exitCode: null }
    this.runs.push(run)
    node.procs.set(allocId, run)
    this.hooks.onRunStart?.(run)
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
    const target = this.nodes.get(to)
    const fromGen = from.gen
    // The core ignores an rpc-failed whose corr was already answered, so the timeout is always armed.
    const fail = (reason: 'timeout' | 'refused' | 'protocol', delay: number): void => {
      this.at(this.now + delay, () => this.input(from, fromGen, () => this.step(from, { kind: 'rpc-failed', to, corr, reason })))
    }
    fail('timeout', timeoutMs)
    let bytes: Uint8Array
    try {
      bytes = rpcRequestCodec.encode(msg)
    } catch (err) {
      // The runtime's send() catches the codec's refusal (a sync over MAX_RPC_BYTES): rpc-failed.
      if (!(err instanceof CodecError)) throw err
      this.codecErrors++
      fail('protocol', 0)
      return
    }
    const decoded = rpcRequestCodec.decode(bytes)
    if (this.opts.freezeMessages === true) deepFreeze(decoded)
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
      if (!this.net.blocked(from.idx, target.idx)) fail('refused', 2 * this.net.latencyMs(from.idx, target.idx))
      return
    }
    this.net.transmit(from.idx, target.idx, rpcRequestBytes(bytes.byteLength), 'rpc', () => {
      const reqId = target.nextReqId++
      target.inbound.set(reqId, { from: from.idx, corr, gen: fromGen })
      this.step(target, { kind: 'rpc-request', from: from.id, reqId, msg: decoded })
    })
  }

  private reply(node: SimNode, reqId: number, msg: Parameters<typeof rpcResponseCodec.encode>[0]): void {
    const req = node.inbound.get(reqId)
    if (req === undefined) return
    node.inbound.delete(reqId)
    const asker = this.byIdx[req.from] as SimNode
    let bytes: Uint8Array
    try {
      bytes = rpcResponseCodec.encode(msg)
    } catch (err) {
      // The server's stream handler throws; the client sees the stream fail.
      if (!(err instanceof CodecError)) throw err
      this.codecErrors++
      this.net.transmit(node.idx, asker.idx, rpcResponseBytes(0), 'rpc', () => this.input(asker, req.gen, () => this.step(asker, { kind: 'rpc-failed', to: node.id, corr: req.corr, reason: 'protocol' })))
      return
    }
    const decoded = rpcResponseCodec.decode(bytes)
    if (this.opts.freezeMessages === true) deepFreeze(decoded)
    const respond = (): void => this.input(asker, req.gen, () => this.step(asker, { kind: 'rpc-response', from: node.id, corr: req.corr, msg: decoded }))
    if (asker === node) this.at(this.now, respond)
    else this.net.transmit(node.idx, asker.idx, rpcResponseBytes(bytes.byteLength), 'rpc', respond)
  }
}

function deepFreeze(value: unknown): void {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return
  Object.freeze(value)
  for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v)
}
