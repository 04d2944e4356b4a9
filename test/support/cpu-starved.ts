// Many agents on one small machine, in the simulator: a CPU model around SimCluster. The simulator
// gives every node a core of its own; on a 2-core machine running 50 agents the cores are shared,
// and the membership protocol's own messages cost CPU, which delays the answers to its probes,
// which makes more messages: the start-up storm seen with real agents (scripts/scale-bench.ts).
// This reproduces that loop cheaply and deterministically:
// - every node needs `startupMs` of CPU before it is up (process start, bundle, libp2p), and the
//   nodes launched at once share the cores while they start, so they come up over seconds;
// - every gossip publish costs its author `publishMs` and every other node `deliverMs`
//   (signature check, decode, forwarding); every request costs `rpcMs` at each end;
// - every `windowMs` the cores are shared fairly (water-filling) among the nodes with work; a node
//   left with work it could not do in its share is stalled (its event loop frozen: nothing
//   processed, its timers late) for as long as its backlog takes at the rate it got;
// - connections come as a real joiner's do: its --join dial to the seed first, up to 8 more from
//   peer exchange ~2 s later (members that heard its announcement dial it), and one for every
//   request to a member it is not connected to yet (libp2p keeps it: both ends push-pull on it).
//   An earlier version gave every node 8 random connections the moment it came up, which no
//   real joiner has: its announcements reached everyone at once, so it hid what a star around
//   the seed costs (in a real 50-agent trace, the seed took in the last joiner 38-41 s after the
//   launch, and the others then learned of the late joiners by push-pull alone).
// Only a model: its costs are rough figures from profiles of real agents (docs in the test that
// uses it), good for comparing protocol variants, not for predicting real seconds.
import type { MembershipConfig } from '../../src/core/config.js'
import type { Millis, NodeId } from '../../src/core/types.js'
import { SimCluster } from '../../src/sim/sim-cluster.js'

/** What the machine has and what each kind of work costs, in ms of one core. */
export interface CpuCosts {
  cores: number
  windowMs: number
  /** CPU an agent needs before it is up; each node's own figure varies by +-startupJitter (a fraction). */
  startupMs: number
  startupJitter: number
  /** Per gossip message, at every node but its author. */
  deliverMs: number
  /** Per gossip message, at its author. */
  publishMs: number
  /** Per request, at each end (its answer included); a sync also pays `recordMs` per record it carries. */
  rpcMs: number
  recordMs: number
  /** Per new connection, at each end (noise handshake, identify, gossipsub streams, peer store). */
  connectMs: number
  /** Per node per second while up (timers, libp2p upkeep). */
  idleMsPerSecond: number
}

/**
 * Rough figures for this project's agents on a 2-core machine: ~500 ms of CPU to get ready (50
 * agents ready in ~12 s), ~1 ms per delivered gossip message (gossipsub's ceiling was ~1,000
 * deliveries/s per core, and 20 agents at ~60 messages/s each saturated both cores), ~0.3 ms per
 * request end (noise, yamux, JSON, schema check), ~50 ms per new connection for both ends
 * (measured in src/node/discovery.ts). Every node dials the seed and then up to 8 others.
 */
export const SMALL_MACHINE: CpuCosts = {
  cores: 2, windowMs: 20, startupMs: 500, startupJitter: 0.3,
  deliverMs: 1, publishMs: 1, rpcMs: 0.3, recordMs: 0.02, connectMs: 25, idleMsPerSecond: 10,
}

/** Connections a new node gets from peer exchange besides its seed (DISCOVERY_TARGET_CONNECTIONS), and how long after it came up. */
const DISCOVERY_PEERS = 8
const DISCOVERY_DELAY_MS = 2_000

/** What happened in a run (counts over the whole run). */
export interface StormFigures {
  /** When the last node came up, ms after the launch. */
  lastUpMs: Millis
  /** When every node first saw every node alive, ms after the launch (undefined: not within the run). */
  convergedMs: Millis | undefined
  /** Gossip messages published (all nodes). */
  publishes: number
  /** Most gossip messages any one node received in one second. */
  peakDeliveriesPerSecond: number
  suspicions: number
  deaths: number
  refutations: number
  /** Highest incarnation any node reached (1: nobody ever had to refute). */
  maxIncarnation: number
  /** Share of the machine's CPU used over the run. */
  cpuUse: number
  /** Connections made (each paid by both ends). */
  connections: number
}

/** A cluster of `n` nodes launched at once on a machine with `costs`; node-1 is up first (the --join seed). */
export class StarvedCluster {
  readonly sim: SimCluster
  private readonly backlog = new Map<NodeId, number>()
  private readonly starting = new Map<NodeId, number>()
  private readonly stalledUntil = new Map<NodeId, Millis>()
  private readonly up = new Set<NodeId>()
  private readonly launchedAt: Millis
  private deliveredThisSecond = new Map<NodeId, number>()
  private secondStart: Millis
  private used = 0
  private offered = 0
  peakDeliveries = 0
  publishes = 0
  lastUpAt: Millis = 0
  convergedAt: Millis | undefined

  constructor(readonly n: number, readonly costs: CpuCosts, seed: number, config?: MembershipConfig) {
    // A joiner's first connection is its --join dial to the seed; the others come later (connected()).
    this.sim = new SimCluster({ seed, latencyMs: 1, jitterMs: 1, joinSeed: 'node-1', ...(config === undefined ? {} : { config }) })
    this.launchedAt = this.sim.now
    this.secondStart = this.sim.now
    let x = seed >>> 0
    const rand = (): number => { x = (Math.imul(x, 1664525) + 1013904223) >>> 0; return x / 2 ** 32 }
    this.rand = rand
    // The seed node is started alone first (as scale-bench does), then the others all at once.
    this.starting.set('node-1', costs.startupMs)
    for (let i = 2; i <= n; i++) this.starting.set(`node-${i}`, costs.startupMs * (1 + costs.startupJitter * (2 * rand() - 1)))
    this.sim.hooks.onPublish = (_at, from) => {
      this.publishes++
      this.charge(from, costs.publishMs, 'publish')
      for (const id of this.up) {
        if (id === from) continue
        this.charge(id, costs.deliverMs, 'deliver')
        this.deliveredThisSecond.set(id, (this.deliveredThisSecond.get(id) ?? 0) + 1)
      }
    }
    this.sim.hooks.onSend = (_at, from, to, msg) => {
      // The first request between two nodes dials a connection (the request channels dial any
      // member on demand), and libp2p keeps it: both ends hear of it (a push-pull each), and
      // gossip flows over it.
      if (from !== to && this.up.has(to) && !this.linked(from, to)) {
        this.link(from, to, `dial:${msg.type}${msg.type === "ping" && msg.from !== null ? "-notice" : ""}`)
        this.sim.connect(from, to)
      }
      const records = msg.type === 'sync' || msg.type === 'sync-push' ? msg.records.length : 0
      // A sync's answer carries what differs: at start-up, the whole table.
      const answer = msg.type === 'sync' ? this.up.size : 0
      this.charge(from, costs.rpcMs + costs.recordMs * (records + answer), `rpc:${msg.type}`)
      this.charge(to, costs.rpcMs + costs.recordMs * (records + answer), `rpc:${msg.type}`)
    }
    this.sim.at(this.sim.now, () => this.window())
  }

  /** SIGKILL: the model stops charging it. */
  kill(id: NodeId): void {
    this.up.delete(id)
    this.backlog.delete(id)
    this.sim.kill(id)
  }

  /** SIGSTOP: the model leaves it frozen (no share, no thaw). */
  freeze(id: NodeId): void {
    this.up.delete(id)
    this.backlog.delete(id)
    // After the model's own stall of it, if one is under way (its thaw would end the freeze).
    this.sim.at(Math.max(this.sim.now, this.stalledUntil.get(id) ?? 0), () => this.sim.freeze(id))
  }

  private charge(id: NodeId, ms: number, kind: string): void {
    this.backlog.set(id, (this.backlog.get(id) ?? 0) + ms)
    this.spent.set(kind, (this.spent.get(kind) ?? 0) + ms)
  }

  /** CPU asked for, by kind of work (ms of one core; start-up not included). */
  readonly spent = new Map<string, number>()

  /** One scheduling window: share the cores, start nodes that finished starting, stall the behind. */
  private window(): void {
    const { windowMs: w, cores } = this.costs
    const now = this.sim.now
    // The seed starts alone; the rest are launched once it is up.
    const launched = [...this.starting.keys()].filter((id) => id === 'node-1' || this.up.has('node-1'))
    const demand = new Map<NodeId, number>()
    for (const id of launched) demand.set(id, this.starting.get(id) as number)
    for (const id of this.up) {
      this.charge(id, this.costs.idleMsPerSecond * w / 1000, 'idle')
      demand.set(id, this.backlog.get(id) ?? 0)
    }
    const given = waterFill(demand, cores * w)
    this.offered += cores * w
    for (const [id, got] of given) {
      this.used += got
      const left = (demand.get(id) as number) - got
      if (this.starting.has(id)) {
        if (left <= 1e-9) {
          this.starting.delete(id)
          this.up.add(id)
          this.sim.start(id, id.replace('node-', 'n'))
          // Every agent joins through the seed (--join), and keeps that connection.
          if (id !== 'node-1') this.sim.connect(id, 'node-1')
          this.lastUpAt = now
          this.connected(id)
        } else {
          this.starting.set(id, left)
        }
        continue
      }
      this.backlog.set(id, Math.max(0, left))
      if (left > 0.5 && (this.stalledUntil.get(id) ?? 0) <= now) {
        // Behind: its event loop is busy with old work for as long as the backlog takes at this rate.
        const ms = Math.ceil(got > 0 ? left * w / got : w)
        this.stalledUntil.set(id, now + ms)
        this.sim.stall(id, ms)
      }
    }
    if (now - this.secondStart >= 1000) {
      for (const v of this.deliveredThisSecond.values()) this.peakDeliveries = Math.max(this.peakDeliveries, v)
      this.deliveredThisSecond = new Map()
      this.secondStart = now
    }
    if (this.convergedAt === undefined && this.starting.size === 0 && this.converged()) this.convergedAt = now
    this.sim.at(now + w, () => this.window())
  }

  private readonly rand: () => number

  /**
   * A node came up: its connections cost both ends. It dials its seed; once the seed has it, the
   * seed forwards its peer-exchange announcement, and members that hear it dial it: up to
   * DISCOVERY_PEERS more connections, DISCOVERY_DELAY_MS (+-50%) after it came up (src/node/discovery.ts).
   */
  private connected(id: NodeId): void {
    if (id !== 'node-1' && !this.linked(id, 'node-1')) this.link(id, 'node-1', 'dial:join')
    this.sim.at(this.sim.now + DISCOVERY_DELAY_MS * (0.5 + this.rand()), () => {
      if (!this.up.has(id)) return
      const others = [...this.up].filter((p) => p !== id && !this.linked(id, p))
      for (let k = 0; k < DISCOVERY_PEERS && others.length > 0; k++) {
        const p = others.splice(Math.floor(this.rand() * others.length), 1)[0] as NodeId
        this.sim.connect(id, p)
        this.link(id, p, 'dial:discovery')
      }
    })
  }

  private readonly links = new Set<string>()

  private linked(a: NodeId, b: NodeId): boolean {
    return this.links.has(a < b ? `${a}|${b}` : `${b}|${a}`)
  }

  private link(a: NodeId, b: NodeId, kind: string): void {
    this.links.add(a < b ? `${a}|${b}` : `${b}|${a}`)
    this.connections++
    this.charge(a, this.costs.connectMs, kind)
    this.charge(b, this.costs.connectMs, kind)
  }

  /** Connections made so far (each paid by both ends). */
  connections = 0

  /** Every node up and seeing all `n` alive. */
  converged(): boolean {
    return this.up.size === this.n && [...this.up].every((id) => this.sim.core(id).records().filter((r) => r.state === 'alive').length === this.n)
  }

  /** Run until everyone converged (or `maxMs` after the launch), then `settleMs` more. */
  runUntilConverged(maxMs: number): void {
    while (this.convergedAt === undefined && this.sim.now - this.launchedAt < maxMs) this.sim.run(100)
  }

  figures(): StormFigures {
    const events = this.sim.events.filter((e) => e.event.type === 'node')
    const count = (to: string, reason?: RegExp): number => events.filter((e) => e.event.type === 'node' && e.event.to === to && (reason === undefined || reason.test(e.event.reason))).length
    return {
      lastUpMs: this.lastUpAt - this.launchedAt,
      convergedMs: this.convergedAt === undefined ? undefined : this.convergedAt - this.launchedAt,
      publishes: this.publishes,
      peakDeliveriesPerSecond: this.peakDeliveries,
      suspicions: count('suspect'),
      deaths: count('dead'),
      refutations: count('alive', /refuted/),
      maxIncarnation: Math.max(...[...this.up].map((id) => this.sim.core(id).selfRecord().incarnation)),
      cpuUse: this.offered === 0 ? 0 : this.used / this.offered,
      connections: this.connections,
    }
  }
}

/** Fair shares of `capacity` among demands: nobody gets more than it asks, the rest is split evenly. */
function waterFill(demand: Map<NodeId, number>, capacity: number): Map<NodeId, number> {
  const order = [...demand.entries()].sort((a, b) => a[1] - b[1])
  const out = new Map<NodeId, number>()
  let left = capacity
  let count = order.length
  for (const [id, d] of order) {
    const share = count > 0 ? left / count : 0
    const got = Math.min(d, share)
    out.set(id, got)
    left -= got
    count--
  }
  return out
}
