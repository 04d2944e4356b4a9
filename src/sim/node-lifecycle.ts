// Nodes coming and going, and the faults the harness injects: start (or restart from what a node
// persisted), a warm boot of a whole cluster, kill, freeze/thaw, graceful leave, cut links and
// partitions. Each fault is also logged as an impairment, the excuse invariants.ts accepts for
// the duplicate runs it may cause.
import { NodeCore } from '../core/node-core.js'
import type { MembershipConfig } from '../core/config.js'
import type { JobsConfig } from '../core/jobs-config.js'
import { Rng, seedFromString } from '../core/rng.js'
import type { JobRecord } from '../core/job-types.js'
import type { Contact, Millis, NodeId, Resources } from '../core/types.js'
import type { EventQueue } from './event-queue.js'
import type { Gossipsub } from './gossipsub.js'
import type { Impairment } from './invariants.js'
import type { Network } from './network.js'
import type { NodeIo, SimNode, SimNodes } from './node-io.js'

/** One node of a warm boot; omitted fields get start()'s defaults. */
export interface WarmNode {
  id: NodeId
  name?: string
  total?: Resources
  labels?: Record<string, string>
}

/** What the lifecycle needs from the cluster around it. */
export interface LifecycleHost {
  readonly clock: { now: Millis }
  readonly queue: EventQueue
  readonly net: Network
  readonly gossip: Gossipsub
  readonly nodes: SimNodes
  readonly io: NodeIo
  readonly config: MembershipConfig
  /** The run's impairment log: appended to, and each window closed in place when the fault ends. */
  readonly impairments: Impairment[]
  /** Advance simulated time (a warm boot spaces its nodes out). */
  run(ms: number): void
}

/** The SimOptions that govern starting nodes (documented there). */
export interface LifecycleOptions {
  seed: number
  jobsConfig?: JobsConfig
  maxConnections?: number
  joinSeed?: NodeId
  /** Cells (src/core/cells.ts); gossip connections stay inside a cell (its topic's peers). */
  cells?: number
}

export class NodeLifecycle {
  private readonly rng: Rng
  private readonly openImpairments = new Map<string, Impairment>()
  private readonly partitionSides = new Map<number, NodeId[]>()

  constructor(private readonly host: LifecycleHost, private readonly opts: LifecycleOptions) {
    this.rng = new Rng(opts.seed ^ seedFromString('cluster'))
  }

  private get now(): Millis {
    return this.host.clock.now
  }

  /** See SimCluster.start. */
  start(id: NodeId, name: string, total: Resources, labels: Record<string, string>): void {
    const { gossip, net, io } = this.host
    const node = this.createNode(id, name, total, labels)
    const running = this.host.nodes.byIdx.filter((o) => o.idx !== node.idx && o.state !== 'down')
    const others = running.filter((o) => o.core.cell === node.core.cell)
    const cap = this.opts.maxConnections ?? 300
    const seed = others.find((o) => o.id === this.opts.joinSeed)
    const peers = seed !== undefined ? [seed] : others.length <= cap ? others : this.rng.sample(others, cap)
    if (peers.length === 0 && running.length > 0) {
      // The first node of its cell joins through a node of another cell (its --join seed): the
      // two trade directories. No gossip connection: they share no topic.
      const seed = running[this.rng.int(running.length)] as SimNode
      const delay = 4 * net.linkBaseMs(node.idx, seed.idx)
      io.deliver(seed, { kind: 'peer-connected', peer: id }, delay)
      io.deliver(node, { kind: 'peer-connected', peer: seed.id }, delay)
    }
    for (const other of peers) {
      gossip.connect(node.idx, other.idx)
      // The connection is up after a handshake (~2 round trips); both ends then hear of it.
      const delay = 4 * net.linkBaseMs(node.idx, other.idx)
      io.deliver(other, { kind: 'peer-connected', peer: id }, delay)
      io.deliver(node, { kind: 'peer-connected', peer: other.id }, delay)
    }
  }

  /** See SimCluster.connect. */
  connect(a: NodeId, b: NodeId): void {
    const na = this.host.nodes.get(a)
    const nb = this.host.nodes.get(b)
    if (a === b || na.state === 'down' || nb.state === 'down' || this.host.gossip.peersOf(na.idx).includes(nb.idx)) return
    this.host.gossip.connect(na.idx, nb.idx)
    const delay = 4 * this.host.net.linkBaseMs(na.idx, nb.idx)
    this.host.io.deliver(na, { kind: 'peer-connected', peer: b }, delay)
    this.host.io.deliver(nb, { kind: 'peer-connected', peer: a }, delay)
  }

  /** Restart a killed node with the name, capacity and labels it had. */
  restart(id: NodeId): void {
    const n = this.host.nodes.get(id)
    if (n.state !== 'down') throw new Error(`${id} is running; kill it first`)
    this.start(id, n.name, n.total, n.labels)
  }

  /** See SimCluster.bootWarm. */
  bootWarm(nodes: readonly WarmNode[], spreadMs: number): void {
    const created: SimNode[] = []
    const step = nodes.length > 0 ? spreadMs / nodes.length : 0
    for (const spec of nodes) {
      created.push(this.createNode(spec.id, spec.name ?? spec.id, spec.total ?? { cpu: 4, memoryMb: 4096 }, spec.labels ?? {}))
      // Random gaps (mean `step`), so tick phases are not all multiples of one interval.
      this.host.run(2 * step * this.rng.next())
    }
    // Each cell is a cluster that has run a while: every member knows every record of its cell,
    // and holds a few contacts in every other cell.
    const byCell = new Map<number, SimNode[]>()
    for (const c of created) byCell.set(c.core.cell, [...(byCell.get(c.core.cell) ?? []), c])
    // Every node its own 3 random contacts per other cell (as learned from different sources):
    // shared ones would make 300 nodes the entry point of every forwarded request.
    const contactOf = new Map(created.map((c) => {
      const r = c.core.selfRecord()
      return [c.id, { id: r.id, addrs: r.addrs, incarnation: r.incarnation }]
    }))
    const cellsList = [...byCell.values()]
    const contactsFor = (): Contact[] => cellsList.flatMap((members) => {
      const picks = new Set<SimNode>()
      for (let i = 0; i < 3; i++) picks.add(members[this.rng.int(members.length)] as SimNode)
      return [...picks].map((m) => contactOf.get(m.id) as Contact)
    })
    const gossip = this.host.gossip
    const cap = this.opts.maxConnections ?? 300
    for (const members of byCell.values()) {
      const records = members.map((c) => c.core.selfRecord())
      for (const c of members) {
        this.host.io.step(c, { kind: 'gossip', from: c.id, msg: { type: 'records', records } })
        if (byCell.size > 1) c.core.learnContacts(contactsFor(), this.now)
      }
      // Both ends of each connection hear `peer-connected`, as on a running cluster: a core probes
      // the members it is connected to every probe interval, and dials others only now and then.
      const link = (a: SimNode, b: SimNode): void => {
        if (a === b || gossip.isConnected(a.idx, b.idx)) return
        gossip.connect(a.idx, b.idx)
        this.host.io.step(a, { kind: 'peer-connected', peer: b.id })
        this.host.io.step(b, { kind: 'peer-connected', peer: a.id })
      }
      if (members.length - 1 <= cap) {
        for (let i = 0; i < members.length; i++) for (let j = i + 1; j < members.length; j++) link(members[i] as SimNode, members[j] as SimNode)
      } else {
        // A random graph of average degree ~cap: each node dials cap/2 others.
        for (const a of members) for (const b of this.rng.sample(members, Math.ceil(cap / 2) + 1)) link(a, b)
      }
    }
    gossip.warmMeshes(created.map((c) => c.idx))
  }

  /** SIGKILL: the process is gone, its sockets close, so connected peers get a disconnect hint. */
  kill(id: NodeId): void {
    const n = this.host.nodes.get(id)
    if (n.state === 'down') return
    if (n.state === 'frozen') this.closeImpairment(id, 'freeze')
    const peers = this.host.gossip.peersOf(n.idx)
    n.state = 'down'
    n.gen++
    n.backlog = []
    // Its processes die with it (the agent's process groups are killed at its next start anyway).
    for (const run of n.procs.values()) run.endedAt = this.now
    n.procs.clear()
    this.host.gossip.stopNode(n.idx)
    for (const p of peers) {
      const other = this.host.nodes.at(p)
      this.host.io.deliver(other, { kind: 'peer-disconnected', peer: id }, this.host.net.latencyMs(n.idx, p))
    }
  }

  /** SIGSTOP: nothing is processed, sockets stay open, nobody gets a hint. */
  freeze(id: NodeId): void {
    const n = this.host.nodes.get(id)
    if (n.state !== 'up') return
    n.state = 'frozen'
    this.openImpairment(id, 'freeze')
  }

  /** SIGCONT: the node runs again and sees what queued up while it was frozen. */
  thaw(id: NodeId): void {
    const n = this.host.nodes.get(id)
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
    const n = this.host.nodes.get(id)
    this.host.io.step(n, { kind: 'leave' })
    const gen = n.gen
    this.host.queue.push(this.now + 50, () => { if (n.gen === gen) this.kill(id) })
  }

  /** A pause of the node's event loop: its next tick comes `ms` late, and messages wait. */
  stall(id: NodeId, ms: number): void {
    this.freeze(id)
    this.host.queue.push(this.now + ms, () => this.thaw(id))
  }

  /** Cut the link between two nodes in both directions (or heal it). */
  cut(a: NodeId, b: NodeId, on: boolean): void {
    const nodes = this.host.nodes
    this.host.net.cut(nodes.get(a).idx, nodes.get(b).idx, on)
    const key = (x: NodeId, y: NodeId): string => `${x}|${y}`
    for (const [x, y] of [[a, b], [b, a]] as const) {
      if (on) this.openImpairment(x, 'cut', key(x, y))
      else this.closeImpairment(x, 'cut', key(x, y))
    }
  }

  /** Cut `side` off from everyone else until heal(); returns the partition's id. */
  partition(side: readonly NodeId[]): number {
    const id = this.host.net.partition(side.map((s) => this.host.nodes.get(s).idx))
    this.partitionSides.set(id, [...side])
    // Both sides lose part of the cluster; either may reschedule the other's work.
    for (const n of this.host.nodes.byIdx) this.openImpairment(n.id, 'partition', String(id))
    return id
  }

  heal(partitionId: number): void {
    this.host.net.heal(partitionId)
    this.partitionSides.delete(partitionId)
    for (const n of this.host.nodes.byIdx) this.closeImpairment(n.id, 'partition', String(partitionId))
  }

  /**
   * A fresh process for `id`: a new node in the next slot, or a killed one back in its slot with
   * what it persisted (its stored jobs and last incarnation, as src/node/agent.ts reads them from
   * the data dir). It is up, its gossipsub router runs and its first tick is armed.
   */
  private createNode(id: NodeId, name: string, total: Resources, labels: Record<string, string>): SimNode {
    const { nodes, config } = this.host
    const old = nodes.find(id)
    if (old !== undefined && old.state !== 'down') throw new Error(`${id} is already running`)
    const persisted = old?.persisted ?? new Map<string, unknown>()
    const inc = persisted.get('self/incarnation')
    const lastIncarnation = typeof inc === 'number' ? inc : 0
    const storedJobs = [...persisted.entries()].filter(([k]) => k.startsWith('job/')).map(([, v]) => v as JobRecord)
    // Addresses shaped like a real agent's, so records weigh what they weigh on the wire.
    const slot = old?.idx ?? nodes.byIdx.length
    // What the new process owes (answers, replies) starts empty; its effects resolve the node by slot.
    const io = this.host.io.interpreter(slot, id)
    const ip = `10.${(slot >> 16) & 255}.${(slot >> 8) & 255}.${slot & 255}`
    const { core, effects } = NodeCore.create({
      self: { id, name, addrs: [`/ip4/${ip}/tcp/7000/p2p/${id}`], api: `http://${ip}:7070`, resources: { total, free: total }, labels, draining: false, allocations: 0 },
      lastIncarnation, config, seed: this.opts.seed, now: this.now, storedJobs, cells: this.opts.cells ?? 1,
      ...(this.opts.jobsConfig === undefined ? {} : { jobsConfig: this.opts.jobsConfig }),
    })
    const node: SimNode = old ?? {
      idx: nodes.byIdx.length, id, name, total, labels, core, state: 'up', gen: 0, backlog: [], persisted,
      effects: io, procs: new Map(), tickGrid: 0, tickAt: Infinity, tickToken: 0,
    }
    Object.assign(node, { name, total, labels, core, state: 'up', backlog: [], effects: io })
    node.gen++
    if (old === undefined) {
      nodes.add(node)
      this.host.net.traffic.ensure(nodes.byIdx.length)
    }
    this.host.gossip.startNode(node.idx)
    this.host.io.apply(node, effects)
    this.host.io.scheduleTick(node, node.gen, this.now + config.tickMs)
    return node
  }

  private openImpairment(node: NodeId, kind: Impairment['kind'], key = ''): void {
    const k = `${node}|${kind}|${key}`
    if (this.openImpairments.has(k)) return
    const imp: Impairment = { node, kind, from: this.now, to: Infinity }
    this.host.impairments.push(imp)
    this.openImpairments.set(k, imp)
  }

  private closeImpairment(node: NodeId, kind: Impairment['kind'], key = ''): void {
    const k = `${node}|${kind}|${key}`
    const imp = this.openImpairments.get(k)
    if (imp === undefined) return
    imp.to = this.now
    this.openImpairments.delete(k)
  }
}
