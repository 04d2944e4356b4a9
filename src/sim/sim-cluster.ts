// A deterministic discrete-event harness that runs real NodeCores on a simulated network: per-link
// latency, loss, partitions, a gossipsub model, simulated processes, and faults (kill, restart from
// persisted state, freeze/thaw, graceful leave). Every message crosses the real codec, so sizes are
// the real ones; the same seed replays the same run.
//
// This file is the harness's face: options, wiring, queries, the API calls and the run loop.
// node-lifecycle.ts starts nodes and injects faults; node-io.ts is each node's event loop and
// runs the effects its core returns (gossip, rpc, persist, processes).
import type { NodeCore } from '../core/node-core.js'
import { TEST, type MembershipConfig } from '../core/config.js'
import type { JobsConfig } from '../core/jobs-config.js'
import { Rng, seedFromString } from '../core/rng.js'
import type { ApiReply, ApiRequest, JobSpec } from '../core/job-types.js'
import type { ClusterEvent, Millis, NodeId, Resources } from '../core/types.js'
import { EventQueue } from './event-queue.js'
import { GOSSIPSUB_DEFAULTS, Gossipsub, type GossipsubParams } from './gossipsub.js'
import { Histogram } from './histogram.js'
import { checkDuplicates, checkOvercommit, type DuplicateCheck, type Impairment, type SimRun } from './invariants.js'
import { DEFAULT_LINKS, Network, type LinkOptions, type NodeRunState } from './network.js'
import { NodeIo, SimNodes, type SimHooks } from './node-io.js'
import { NodeLifecycle, type WarmNode } from './node-lifecycle.js'

export type { SimRun } from './invariants.js'
export type { SimHooks } from './node-io.js'

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

/**
 * A job spec for the simulator. Simulated jobs read their behaviour from env: SIM_DURATION_MS
 * (default 100) and SIM_EXIT_CODE (default 0).
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
  /**
   * A node started while this one runs connects to it alone (its --join seed), as a real joiner
   * does before its other connections come, one dial at a time; default: maxConnections' rule.
   */
  joinSeed?: NodeId
  /** Cells the cluster is split into (src/core/cells.ts); default 1. */
  cells?: number
  /** Disk write time: effects after a persist in the same batch wait this long (the runtime's barrier). */
  persistMs?: number
  /** Keep every emitted cluster event in `events` (tests read it; big runs turn it off). */
  recordEvents?: boolean
  /** Keep every API reply in `replies` (tests read it; big runs use the onApiReply hook instead). */
  recordReplies?: boolean
  /**
   * Deep-freeze every decoded message before a core sees it. Gossip is decoded once and shared by
   * every receiver here; a core that mutated a received message would then throw instead of
   * silently changing other nodes' copies.
   */
  freezeMessages?: boolean
  /** Check every message against the wire schema, as the receiving runtime does (default true). */
  checkMessages?: boolean
  /**
   * Which nodes (by slot) have a watcher on their event stream (/v1/events), and so join the
   * event topic and hear every node's activity digests. Default: every node.
   */
  watches?: (idx: number) => boolean
  /** Allowed lag between a fault and the duplicate runs it causes (see invariants.ts). */
  duplicateCheck?: DuplicateCheck
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
  private readonly nodes = new SimNodes()
  private readonly config: MembershipConfig
  private readonly io: NodeIo
  private readonly lifecycle: NodeLifecycle

  constructor(private readonly opts: SimOptions) {
    this.config = opts.config ?? TEST
    const shorthand = opts.latencyMs !== undefined || opts.jitterMs !== undefined
    const links: LinkOptions = {
      ...DEFAULT_LINKS,
      ...(shorthand ? { baseMs: opts.latencyMs ?? 1, jitterMs: opts.jitterMs ?? 0, jitter: 'uniform', linkSpread: 0 } : {}),
      ...(opts.gossipLoss === undefined ? {} : { gossipLoss: opts.gossipLoss }),
      ...opts.links,
    }
    const byIdx = this.nodes.byIdx
    const table = {
      runState: (i: number): NodeRunState => byIdx[i]?.state ?? 'down',
      generation: (i: number): number => byIdx[i]?.gen ?? -1,
      backlog: (i: number, fn: () => void): void => { byIdx[i]?.backlog.push(fn) },
    }
    this.net = new Network(this.queue, this.clock, table, links, opts.seed)
    this.gossip = new Gossipsub({
      clock: this.clock, queue: this.queue, net: this.net,
      runState: table.runState, generation: table.generation,
      nodeCount: () => byIdx.length,
      deliver: (i, msg) => this.io.deliverGossip(i, msg),
      watches: (i) => opts.watches?.(i) ?? true,
    }, { ...GOSSIPSUB_DEFAULTS, ...opts.gossipsub }, opts.seed)
    const world = { clock: this.clock, queue: this.queue, net: this.net, gossip: this.gossip, nodes: this.nodes, config: this.config }
    this.io = new NodeIo({ ...world, record: this }, opts)
    this.lifecycle = new NodeLifecycle({ ...world, io: this.io, impairments: this.impairments, run: (ms) => this.run(ms) }, opts)
  }

  get now(): Millis {
    return this.clock.now
  }

  ids(): NodeId[] {
    return this.nodes.ids()
  }

  /** Nodes whose process runs (up or frozen). */
  liveIds(): NodeId[] {
    return this.nodes.byIdx.filter((n) => n.state !== 'down').map((n) => n.id)
  }

  upIds(): NodeId[] {
    return this.nodes.byIdx.filter((n) => n.state === 'up').map((n) => n.id)
  }

  runState(id: NodeId): NodeRunState {
    return this.nodes.get(id).state
  }

  /** The node's process generation: changes when it is killed or (re)started. */
  generation(id: NodeId): number {
    return this.nodes.get(id).gen
  }

  indexOf(id: NodeId): number {
    return this.nodes.get(id).idx
  }

  idAt(idx: number): NodeId {
    const n = this.nodes.byIdx[idx]
    if (n === undefined) throw new Error(`no node #${idx}`)
    return n.id
  }

  nodeCount(): number {
    return this.nodes.byIdx.length
  }

  core(id: NodeId): NodeCore {
    return this.nodes.get(id).core
  }

  /** Declared capacity of every node. */
  totals(): Map<NodeId, Resources> {
    return new Map(this.nodes.byIdx.map((n) => [n.id, n.total]))
  }

  /** The processes a node runs now. */
  procsOn(id: NodeId): SimRun[] {
    return [...this.nodes.get(id).procs.values()]
  }

  /**
   * Start a node, or restart a killed one from what it persisted: its stored jobs and its last
   * incarnation, as src/node/agent.ts reads them from the data dir. It connects to the running
   * nodes (all of them, or a seeded sample of maxConnections), and both ends hear `peer-connected`.
   */
  start(id: NodeId, name = id, total: Resources = { cpu: 4, memoryMb: 4096 }, labels: Record<string, string> = {}): void {
    this.lifecycle.start(id, name, total, labels)
  }

  /**
   * A connection between two running nodes, made after they started (an agent's --join dial to
   * its seed, say): both ends hear `peer-connected`; nothing if they are connected already.
   */
  connect(a: NodeId, b: NodeId): void {
    this.lifecycle.connect(a, b)
  }

  /** Restart a killed node with the name, capacity and labels it had. */
  restart(id: NodeId): void {
    this.lifecycle.restart(id)
  }

  /**
   * Bring up many nodes as a cluster that has been running for a while: every node knows every
   * other's record (handed over directly, not gossiped: a shortcut past the join storm, which
   * costs O(N^2) syncs of O(N) tables), connections and gossipsub meshes are in place. Nodes are
   * created `spreadMs / N` apart so that their periodic timers (sync, announce) are spread out.
   */
  bootWarm(nodes: readonly WarmNode[], spreadMs: number): void {
    this.lifecycle.bootWarm(nodes, spreadMs)
  }

  /** SIGKILL: the process is gone, its sockets close, so connected peers get a disconnect hint. */
  kill(id: NodeId): void {
    this.lifecycle.kill(id)
  }

  /** SIGSTOP: nothing is processed, sockets stay open, nobody gets a hint. */
  freeze(id: NodeId): void {
    this.lifecycle.freeze(id)
  }

  /** SIGCONT: the node runs again and sees what queued up while it was frozen. */
  thaw(id: NodeId): void {
    this.lifecycle.thaw(id)
  }

  /** A graceful leave (SIGTERM). The node goes down after its leave messages are out. */
  leave(id: NodeId): void {
    this.lifecycle.leave(id)
  }

  /**
   * Submit a job through a node's API; returns the request id (see `replies`). Without an
   * idempotency key (`movable`, as here by default) the job may take another id in another cell.
   */
  submit(via: NodeId, id: string, spec: JobSpec, movable = true): number {
    const reqId = this.nextApiReq++
    this.io.step(this.nodes.get(via), { kind: 'api', reqId, req: { op: 'submit', id, spec, movable } })
    return reqId
  }

  cancel(via: NodeId, id: string): number {
    return this.api(via, { op: 'cancel', id })
  }

  /** Any API request through a node; returns the request id (see `replies`). */
  api(via: NodeId, req: ApiRequest): number {
    const reqId = this.nextApiReq++
    this.io.step(this.nodes.get(via), { kind: 'api', reqId, req })
    return reqId
  }

  /** Drain `node` (or stop draining it) through `via`'s API; returns the request id. (Used by test/unit/resilience.sim.test.ts: keep it.) */
  drain(via: NodeId, node: NodeId, enable = true, deadlineMs = 60_000): number {
    const reqId = this.nextApiReq++
    this.io.step(this.nodes.get(via), { kind: 'api', reqId, req: { op: 'drain', node, enable, deadlineMs } })
    return reqId
  }

  /** Cut the link between two nodes in both directions (or heal it). */
  cut(a: NodeId, b: NodeId, on = true): void {
    this.lifecycle.cut(a, b, on)
  }

  /** Cut `side` off from everyone else until heal(); returns the partition's id. */
  partition(side: readonly NodeId[]): number {
    return this.lifecycle.partition(side)
  }

  heal(partitionId: number): void {
    this.lifecycle.heal(partitionId)
  }

  /** Run until `until` (absolute simulated time). */
  runUntil(until: Millis): void {
    for (;;) {
      const run = this.queue.popRun(until)
      if (run === undefined) break
      this.clock.now = this.queue.poppedAt
      this.eventsRun++
      run()
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
    this.lifecycle.stall(id, ms)
  }

  /** The job's storing nodes as the first live node sees them (its arbiter first). */
  storing(jobId: string): NodeId[] {
    const observer = this.liveIds()[0]
    return observer === undefined ? [] : this.core(observer).replicaSet(jobId)
  }

  /** The job's state on each of its storing nodes. */
  statesOnStoring(jobId: string): Array<string | undefined> {
    return this.storing(jobId).map((n) => this.core(n).jobStatus(jobId)?.state)
  }

  /** Nodes whose persisted state holds the job (its durable copies). */
  storedOn(jobId: string): NodeId[] {
    return this.nodes.byIdx.filter((n) => n.persisted.has(`job/${jobId}`)).map((n) => n.id)
  }

  /** Every job on some node's disk, with the nodes that keep it: one pass over every data dir. */
  storedIndex(): Map<string, NodeId[]> {
    const index = new Map<string, NodeId[]>()
    for (const n of this.nodes.byIdx) {
      for (const k of n.persisted.keys()) {
        if (!k.startsWith('job/')) continue
        const id = k.slice(4)
        const list = index.get(id)
        if (list === undefined) index.set(id, [n.id])
        else list.push(n.id)
      }
    }
    return index
  }

  /** Whether a live node's core or data dir still holds the job. */
  holds(id: NodeId, jobId: string): boolean {
    const n = this.nodes.get(id)
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

  private runNext(): void {
    const next = this.queue.pop()
    if (next === undefined) return
    this.clock.now = next.at
    this.eventsRun++
    next.run()
  }
}
