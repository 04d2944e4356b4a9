// Membership and failure detection: SWIM probing with Lifeguard's refinements, as a pure state
// machine. Who is in the cluster, in which state (alive/suspect/dead/left), at which incarnation.
//
// - Every probe interval a node pings one member, round-robin over a shuffled list of those it
//   holds a connection to (others at a bounded rate, and not one that just pinged us:
//   probe-targets.ts). No ack within probeTimeoutMs: k others are asked to ping it (ping-req).
//   Its own ack still counts; none by the end of the round: the member becomes suspect here,
//   and we tell it and a few checkers directly (tell()). A routine probe that dials its member
//   starts its clock when the connection is up (config.probeDialWaitMs).
// - A closed connection is only a hint: it starts an immediate probe of that member. A direct
//   probe refused outright (nothing listens) makes it suspect at once, with a short timeout; any
//   other failure still needs the indirect probes to fail too.
// - A checker probes the suspect at once (if connected or within its dial budget), and tells
//   the accuser when it fails too.
// - A suspect becomes dead when its suspicion timeout runs out (lifeguard.ts); the timeout shrinks
//   from suspicionMaxMs to suspicionMinMs as other members independently confirm the suspicion.
//   Deaths are gossiped.
// - A node that hears it is suspected or dead refutes with a higher incarnation, gossiped. Older
//   news never overrides newer: records merge by (incarnation, state, seq) (see records.ts).
// - Local health: when our own ticks arrive late (our event loop stalled), all our deadlines move
//   by the stall, because we could not have heard the acks and refutations in the meantime
//   (tick-clock.ts); failed probes, refutations and stalls stretch our probing.
// - Dead and left members are reaped after reapAfterMs (member-table.ts).
import { syncTimeoutMs, type MembershipConfig } from './config.js'
import { LocalHealth, Suspicions } from './lifeguard.js'
import { NO_CAPACITY, type CapacityPort, type MembershipStats, type Pending, type Probe, type SelfInfo } from './membership-types.js'
import { MembershipOutbox } from './membership-outbox.js'
import { ProbeTargets } from './probe-targets.js'
import { SyncSchedule } from './sync-schedule.js'
import { isLive, MemberTable } from './member-table.js'
import { compareRecords } from './records.js'
import type { Rng } from './rng.js'
import { TickClock } from './tick-clock.js'
import type { ClusterEvent, CoreEvent, Effect, Millis, NodeId, NodeRecord, NodeStatus, RpcFailure, RpcRequest, RpcResponse } from './types.js'

export type { CapacityPort, MembershipStats, SelfInfo } from './membership-types.js'

export class Membership {
  private readonly table: MemberTable
  private readonly suspicions: Suspicions
  private readonly probes = new Map<NodeId, Probe>()
  private readonly pending = new Map<number, Pending>()
  private readonly targets: ProbeTargets
  /** With whom and when to push-pull (sync-schedule.ts). */
  private readonly syncs: SyncSchedule
  private self: NodeRecord
  private nextSeq = 1
  private nextProbeAt = 0
  private nextAnnounceAt = 0
  private selfDirty = true
  private readonly health: LocalHealth
  private leaving = false
  /** What we publish: our claims at the end of each event, relays on ticks (membership-outbox.ts). */
  private readonly outbox: MembershipOutbox
  private readonly ticks: TickClock
  readonly stats: MembershipStats = { probes: 0, indirectProbes: 0, suspicions: 0, refutations: 0, deathsDeclared: 0, syncs: 0, localHealth: 0, reaped: 0, learnedByGossip: 0, learnedByPushPull: 0, learnedOtherwise: 0, relayed: 0 }

  constructor(
    info: SelfInfo,
    /** The highest incarnation this node used before (persisted); it starts one above. */
    lastIncarnation: number,
    private readonly config: MembershipConfig,
    private readonly rng: Rng,
    now: Millis,
    out: Effect[],
    /** Correlation ids are shared by all sub-machines of a node, so responses route unambiguously. */
    private readonly nextCorr: () => number,
    /** Records of nodes of other cells are not members (see cells.ts): they go here instead. */
    private readonly foreign?: (r: NodeRecord) => boolean,
    /** The cell count, on every sync: a node of a cluster split otherwise refuses it (node-core.ts). */
    private readonly cells = 1,
    /**
     * Free capacity rides on probes: every ping and ack carries the sender's, so that every node
     * hears every member's figure within a few probe rounds without a message of its own.
     */
    private readonly capacity: CapacityPort = NO_CAPACITY,
  ) {
    this.self = { ...info, incarnation: lastIncarnation + 1, state: 'alive', seq: 0, by: '' }
    this.ticks = new TickClock(config.tickMs)
    this.targets = new ProbeTargets(config, rng)
    this.suspicions = new Suspicions(config)
    this.health = new LocalHealth(config.maxLocalHealth)
    this.outbox = new MembershipOutbox(info.id, config.probeIntervalMs)
    this.table = new MemberTable(info.id, config)
    this.table.put(this.self, now)
    out.push({ kind: 'persist', key: 'self/incarnation', value: this.self.incarnation })
    this.nextProbeAt = now + this.rng.int(config.probeIntervalMs)
    this.syncs = new SyncSchedule(config, this.table, this.targets, rng, now)
  }

  get id(): NodeId {
    return this.self.id
  }

  selfRecord(): NodeRecord {
    return this.self
  }

  /** Every record this node holds, itself included (dead and left members until they are reaped). */
  records(): NodeRecord[] {
    return this.table.records()
  }

  record(id: NodeId): NodeRecord | undefined {
    return this.table.get(id)
  }

  /** When we last had a message straight from this member (undefined: never, or unknown). */
  lastHeard(id: NodeId): Millis | undefined {
    return id === this.self.id ? undefined : this.table.lastHeard(id)
  }

  /** Bumped whenever a member becomes live or stops being live: the job machine re-checks then. */
  liveVersion(): number {
    return this.table.liveVersion()
  }

  /** Bumped on every change to any member's record (state, drain flag, capacity, addresses). */
  tableVersion(): number {
    return this.table.tableVersion()
  }

  statuses(now: Millis): NodeStatus[] {
    return this.table.statuses(now)
  }

  /** Live members but us, sorted (callers copy before changing it). */
  liveOthers(): readonly NodeId[] {
    return this.table.liveOthers()
  }

  handle(ev: CoreEvent, now: Millis, out: Effect[]): void {
    switch (ev.kind) {
      case 'tick': this.onTick(now, out); break
      case 'gossip':
        this.table.heard(ev.from, now)
        if (ev.msg.type === 'records') this.mergeTold(ev.from, ev.msg.records, 'gossip', now, out)
        break
      case 'rpc-request': this.onRequest(ev.from, ev.reqId, ev.msg, now, out); break
      case 'api':
      case 'process-exit':
        break
      case 'rpc-response': this.onResponse(ev.from, ev.corr, ev.msg, now, out); break
      case 'rpc-failed': this.onFailed(ev.corr, ev.reason, now, out); break
      case 'peer-connected': this.onConnected(ev.peer, now, out); break
      case 'peer-disconnected': this.onDisconnected(ev.peer, now, out); break
      case 'leave': this.onLeave(now, out); break
      case 'self-update':
        this.self = { ...this.self, ...ev.patch, seq: this.self.seq + 1 }
        this.table.put(this.self, now)
        this.selfDirty = true
        break
    }
    this.flush(out)
  }

  // --- ticks: probes, suspicion timeouts, announcements, periodic sync --------------------------

  private onTick(now: Millis, out: Effect[]): void {
    this.adjustForStall(now)
    if (this.leaving) return
    for (const p of [...this.probes.values()]) {
      if (!p.indirectSent && now >= p.directDeadline) this.startIndirect(p, now, out)
      if (now >= p.roundDeadline) this.probeFailed(p, now, out)
    }
    for (const id of this.suspicions.expired(now, this.table.liveCount())) this.declareDead(id, now, out)
    if (now >= this.nextProbeAt) {
      this.nextProbeAt = now + this.scaled(this.config.probeIntervalMs)
      const target = this.targets.next(this.liveOthers(), (id) => isLive(this.table.get(id)?.state ?? 'dead'), now, this.health.scale)
      // An alive member that pinged us within probeFreshMs proved itself lately: its visit is spent (config.ts).
      const fresh = target !== undefined && this.table.get(target)?.state === 'alive' && this.targets.pingedLately(target, now, this.health.scale)
      if (target !== undefined && !fresh && !this.probes.has(target)) this.startProbe(target, now, out, true)
    }
    const refresh = this.config.announceIntervalMs > 0 && now >= this.nextAnnounceAt
    if (now >= this.outbox.relayDue()) this.stats.relayed += this.outbox.takeRelays(now, (id) => this.table.get(id))
    if (this.selfDirty || refresh) {
      this.outbox.push(this.self)
      this.selfDirty = false
      this.nextAnnounceAt = now + this.config.announceIntervalMs
    }
    for (const peer of this.syncs.onTick(now, this.liveOthers())) this.sendSync(peer, now, out)
    for (const id of this.table.reap(now)) {
      this.stats.reaped++
      this.syncs.forget(id)
      this.targets.forget(id)
    }
  }

  /**
   * The earliest time a tick could do anything: a probe to send or time out, a suspicion to expire,
   * a sync, reconnect or announcement due. A runtime may skip the ticks before it; one after it is no stall.
   */
  wakeAt(): Millis {
    const at = this.ticks.started ? this.nextDue() : -Infinity
    this.ticks.sleep(at)
    return at
  }

  private nextDue(): Millis {
    if (this.leaving) return Infinity
    if (this.selfDirty) return -Infinity
    let at = Math.min(this.nextProbeAt, this.syncs.due(), this.outbox.relayDue())
    if (this.config.announceIntervalMs > 0) at = Math.min(at, this.nextAnnounceAt)
    for (const p of this.probes.values()) at = Math.min(at, p.roundDeadline, p.indirectSent ? Infinity : p.directDeadline)
    return Math.min(at, this.suspicions.nextDue(this.table.liveCount()), this.table.reapDue())
  }

  /** Our ticks came late: we were stalled, so give every deadline back the time we lost. */
  private adjustForStall(now: Millis): void {
    const shift = this.ticks.tick(now)
    if (shift === 0) return
    // A stalled event loop is Lifeguard's other sign that we are the slow one (a busy machine, a
    // GC pause): stretch our own probing as a failed probe does, so that we do not accuse members
    // that are answering while we cannot read their answers.
    this.setHealth(+1)
    for (const p of this.probes.values()) {
      p.directDeadline += shift
      p.roundDeadline += shift
    }
    this.suspicions.shift(shift)
  }

  /** `routine`: SWIM's round-robin probe, not one a suspicion or a closed connection asked for now. */
  private startProbe(target: NodeId, now: Millis, out: Effect[], routine = false): void {
    const seq = this.nextSeq++
    // A member we are not connected to is dialled first, and a handshake with a starved process
    // takes seconds: a routine probe's clock starts once the connection is up (onConnected),
    // within probeDialWaitMs (a refused dial still fails it at once). A checker's probe keeps the
    // plain timing: Lifeguard's timeout shrinks only with confirmations that come in time.
    const dialMs = routine && !this.targets.isConnected(target) ? this.config.probeDialWaitMs : 0
    const p: Probe = {
      target, seq,
      directDeadline: now + dialMs + this.scaled(this.config.probeTimeoutMs),
      roundDeadline: now + dialMs + this.scaled(this.config.probeRoundMs),
      directFailed: false, refused: false, indirectSent: false, indirectPending: 0, dialing: dialMs > 0,
    }
    this.probes.set(target, p)
    this.stats.probes++
    // Probing a member we hold suspect: the ping carries the suspicion, so that a suspect that
    // did not hear it from its accuser (a bad link between the two) hears it from us and refutes.
    const held = this.table.get(target)
    const from = held?.state === 'suspect' ? held : null
    // The ack counts until the round ends (as in memberlist), not only until the relays are
    // asked: a seed taking in 49 joiners on 2 cores answered in 0.4-1 s, and was suspected for it.
    this.send(target, { type: 'ping', seq, from, free: this.capacity.own() }, p.roundDeadline - now, { purpose: 'probe-direct', target, seq }, out)
  }

  private scaled(ms: number): number {
    return ms * this.health.scale
  }

  private setHealth(delta: number): void {
    this.stats.localHealth = this.health.change(delta)
  }

  private startIndirect(p: Probe, now: Millis, out: Effect[]): void {
    p.indirectSent = true
    const relays = this.targets.helpers(this.liveOthers(), p.target, this.config.indirectProbes)
    const timeoutMs = Math.max(1, p.roundDeadline - now)
    for (const via of relays) {
      p.indirectPending++
      this.stats.indirectProbes++
      this.send(via, { type: 'ping-req', seq: p.seq, target: p.target }, timeoutMs, { purpose: 'probe-indirect', target: p.target, seq: p.seq }, out)
    }
    if (p.directFailed && p.indirectPending === 0) this.probeFailed(p, now, out)
  }

  private probeAcked(target: NodeId, seq: number, now: Millis): void {
    const p = this.probes.get(target)
    if (p === undefined || p.seq !== seq) return
    this.probes.delete(target)
    this.table.heard(target, now)
    this.setHealth(-1)
  }

  private probeFailed(p: Probe, now: Millis, out: Effect[]): void {
    this.probes.delete(p.target)
    // A probe that timed out may be our own slowness; one refused outright (the peer's process is
    // gone) says nothing about us.
    if (!p.refused) this.setHealth(+1)
    this.suspect(p.target, now, out, p.connRefused === true)
  }

  // --- suspicion and death ------------------------------------------------------------------------

  /**
   * Our own verdict that `target` is suspect: we probed it and failed (`refused`: our dial found
   * nothing listening). A suspicion is not gossiped (see tell()); a death is.
   */
  private suspect(target: NodeId, now: Millis, out: Effect[], refused: boolean): void {
    const held = this.table.get(target)
    if (held === undefined || !isLive(held.state)) return
    const mine: NodeRecord = { ...held, state: 'suspect', by: this.self.id }
    if (held.state === 'suspect') {
      // Someone suspected it first: our failed probe confirms it; the accuser counts it.
      const s = this.suspicions.get(target)
      if (s === undefined || s.incarnation !== held.incarnation || s.confirmers.has(this.self.id)) return
      s.confirmers.add(this.self.id)
      if (refused) s.refused = true
      if (s.accuser !== this.self.id) this.notify(s.accuser, mine, out)
      return
    }
    this.merge(mine, now, out)
    const s = this.suspicions.get(target)
    if (s === undefined) return
    if (refused) {
      // Nothing listens there: no checker could learn more, and the suspect cannot answer.
      s.refused = true
      return
    }
    this.tell(mine, out)
  }

  /**
   * Our new suspicion goes directly to the suspect (Lifeguard's buddy system: it refutes at once)
   * and to suspicionConfirmations + 1 checkers (one spare for a checker that is slow itself),
   * members we are connected to when we can, which probe the suspect themselves and tell us when
   * they fail too (Lifeguard's confirmations). Gossiping a suspicion to everyone made every member
   * probe the suspect and gossip its confirmation: O(N^2) deliveries per suspicion, which on a
   * CPU-starved machine made the next probes fail (the start-up storm). Now a false suspicion
   * costs the cluster one gossip message (the refutation), a true one the death.
   */
  private tell(r: NodeRecord, out: Effect[]): void {
    this.notify(r.id, r, out)
    for (const id of this.targets.helpers(this.liveOthers(), r.id, this.config.suspicionConfirmations + 1)) this.notify(id, r, out)
  }

  /** A record for one member, on a ping (its `from`), which merges whatever record it carries. */
  private notify(to: NodeId, r: NodeRecord, out: Effect[]): void {
    const seq = this.nextSeq++
    this.send(to, { type: 'ping', seq, from: r }, this.config.probeTimeoutMs, { purpose: 'notice' }, out)
  }

  private declareDead(id: NodeId, now: Millis, out: Effect[]): void {
    this.suspicions.delete(id)
    const held = this.table.get(id)
    if (held?.state !== 'suspect') return
    this.stats.deathsDeclared++
    this.merge({ ...held, state: 'dead', by: this.self.id }, now, out)
  }

  // --- merging what others say -----------------------------------------------------------------

  /** Merge one record; publishes it if it is our own new claim. True: it is a member we did not know. */
  private merge(r: NodeRecord, now: Millis, out: Effect[]): boolean {
    if (this.foreign?.(r) === true) return false
    if (r.id === this.self.id) {
      this.mergeAboutSelf(r, now, out)
      return false
    }
    if (!this.table.admits(r, now)) return false
    const held = this.table.get(r.id)
    if (held !== undefined && compareRecords(r, held) <= 0) {
      // Not newer, but a suspicion of the same incarnation from someone else confirms ours.
      if (r.state === 'suspect' && held.state === 'suspect' && r.incarnation === held.incarnation) {
        this.suspicions.confirm(r.id, r.incarnation, r.by)
      }
      return false
    }
    const from = this.table.put(r, now)
    if (r.by === this.self.id && r.state !== 'suspect') this.outbox.push(r)
    if (this.suspicions.note(r.id, r.state, r.incarnation, r.by, now) && r.by === this.self.id) this.stats.suspicions++
    if (!isLive(r.state)) this.probes.delete(r.id)
    if (from !== r.state) {
      const reason = r.state === 'alive' ? (from === 'unknown' ? 'joined' : 'refuted') : r.by === '' ? 'announced' : `claimed by ${this.table.nameOf(r.by)}`
      this.emit(out, { type: 'node', node: r.id, name: r.name, from, to: r.state, incarnation: r.incarnation, reason })
    }
    return from === 'unknown'
  }

  /** Records from `peer`: its gossip (someone's relay of a member makes ours needless), or a push-pull with it. */
  private mergeTold(peer: NodeId, records: readonly NodeRecord[], how: 'gossip' | 'push-pull', now: Millis, out: Effect[]): void {
    for (const r of records) {
      if (this.merge(r, now, out)) this.stats[how === 'gossip' ? 'learnedByGossip' : 'learnedByPushPull']++
      if (how === 'gossip' && r.id !== peer && r.state === 'alive') this.outbox.relayedBy(r.id)
    }
  }

  /** Someone says something about us. Anything that would override our alive record gets refuted. */
  private mergeAboutSelf(r: NodeRecord, now: Millis, out: Effect[]): void {
    if (this.leaving) return
    if (compareRecords(r, this.self) <= 0) return
    if (r.incarnation < this.self.incarnation) return
    // A suspicion, death or leave at our incarnation, or any record from a past life with a higher
    // incarnation: jump above it, so our alive record wins everywhere.
    this.self = { ...this.self, incarnation: r.incarnation + 1, seq: this.self.seq + 1 }
    this.table.put(this.self, now)
    out.push({ kind: 'persist', key: 'self/incarnation', value: this.self.incarnation })
    // Refute now, not on the next tick: the suspicion timeout is running on every other node.
    this.outbox.push(this.self)
    if (r.state !== 'alive') {
      this.stats.refutations++
      // Others could not reach us in time: we are likely the slow one (Lifeguard).
      this.setHealth(+1)
    }
  }

  // --- direct requests ----------------------------------------------------------------------------

  private onRequest(from: NodeId, reqId: number, msg: RpcRequest, now: Millis, out: Effect[]): void {
    this.table.heard(from, now)
    switch (msg.type) {
      case 'ping':
        this.targets.pinged(from, now)
        if (msg.from !== null) {
          if (this.merge(msg.from, now, out)) this.stats.learnedOtherwise++
          // A suspicion told to us (tell()): we are one of its checkers. Probe it now rather than
          // when our turn comes round (up to N probe periods away): our own failed probe is an
          // independent confirmation, and Lifeguard shortens the suspicion with each one. Only
          // within our dial budget (probe-targets.ts): a suspect is often a starved process, and
          // four handshakes with it at once are what keeps it starved.
          const r = this.table.get(msg.from.id)
          if (r?.state === 'suspect' && msg.from.state === 'suspect' && r.incarnation === msg.from.incarnation && !this.leaving && !this.probes.has(r.id) && this.targets.mayReach(r.id, now, this.health.scale)) this.startProbe(r.id, now, out)
        }
        if (msg.free !== undefined) this.capacity.heard(from, msg.free, now)
        out.push({ kind: 'reply', reqId, msg: { type: 'ack', seq: msg.seq, free: this.capacity.own() } })
        return
      case 'ping-req':
        // Relay a probe for someone else; the answer goes back on their request.
        if (msg.target === this.self.id) {
          out.push({ kind: 'reply', reqId, msg: { type: 'ack', seq: msg.seq } })
          return
        }
        // Without a connection to the target, relaying means a handshake: only when our budget
        // of new connections allows (probe-targets.ts); otherwise we say at once that we cannot.
        if (!this.targets.mayReach(msg.target, now, this.health.scale)) {
          out.push({ kind: 'reply', reqId, msg: { type: 'nack', seq: msg.seq } })
          return
        }
        this.send(msg.target, { type: 'ping', seq: msg.seq, from: null }, this.scaled(this.config.probeTimeoutMs), { purpose: 'relay', target: msg.target, reqId, seq: msg.seq }, out)
        return
      case 'sync': {
        this.stats.syncs++
        this.mergeTold(from, msg.records, 'push-pull', now, out)
        this.syncs.synced(from, now)
        if (msg.digest !== undefined) this.outbox.asked(from, msg.digest, now, this.targets.connectedCount())
        // Delta: only the buckets that differ; the initiator pushes its side of them next.
        out.push({ kind: 'reply', reqId, msg: { type: 'sync', ...this.table.syncAnswer(msg.digest) } })
        return
      }
      case 'sync-push':
        this.mergeTold(from, msg.records, 'push-pull', now, out)
        out.push({ kind: 'reply', reqId, msg: { type: 'ok' } })
        return
      case 'leave':
        this.merge(msg.record, now, out)
        out.push({ kind: 'reply', reqId, msg: { type: 'ok' } })
        return
    }
  }

  private onResponse(from: NodeId, corr: number, msg: RpcResponse, now: Millis, out: Effect[]): void {
    const p = this.pending.get(corr)
    if (p === undefined) return
    this.pending.delete(corr)
    this.table.heard(from, now)
    if (msg.type === 'ack' && msg.free !== undefined && p.purpose === 'probe-direct') this.capacity.heard(from, msg.free, now)
    switch (p.purpose) {
      case 'probe-direct':
        if (msg.type === 'ack') this.probeAcked(p.target, p.seq, now)
        return
      case 'probe-indirect':
        if (msg.type === 'ack') this.probeAcked(p.target, p.seq, now)
        else this.indirectFailed(p.target, p.seq, now, out)
        return
      case 'relay':
        if (msg.type === 'ack') this.table.heard(p.target, now)
        out.push({ kind: 'reply', reqId: p.reqId, msg: msg.type === 'ack' ? { type: 'ack', seq: p.seq } : { type: 'nack', seq: p.seq } })
        return
      case 'sync':
        if (msg.type !== 'sync') return
        this.mergeTold(from, msg.records, 'push-pull', now, out)
        if (msg.buckets !== undefined && msg.buckets.length > 0) {
          // Where the peer differed we may hold the newer records: push ours of those buckets.
          this.send(from, { type: 'sync-push', records: this.table.inBuckets(msg.buckets) }, 2 * this.config.probeRoundMs, { purpose: 'sync-push' }, out)
        }
        return
      case 'sync-push':
      case 'leave':
      case 'notice':
        return
    }
  }

  private onFailed(corr: number, reason: RpcFailure, now: Millis, out: Effect[]): void {
    const p = this.pending.get(corr)
    if (p === undefined) return
    this.pending.delete(corr)
    switch (p.purpose) {
      case 'probe-direct': {
        const probe = this.probes.get(p.target)
        if (probe === undefined || probe.seq !== p.seq) return
        probe.directFailed = true
        probe.refused = reason === 'unreachable' || reason === 'refused'
        probe.connRefused = reason === 'refused'
        // Nothing listens at its address: no relay can reach a process that is not there, so
        // asking them only delays the verdict by their round trips. Suspect it now; the short
        // refused timeout still lets a member that restarted elsewhere refute.
        if (probe.connRefused) this.probeFailed(probe, now, out)
        else if (!probe.indirectSent) this.startIndirect(probe, now, out)
        return
      }
      case 'probe-indirect':
        this.indirectFailed(p.target, p.seq, now, out)
        return
      case 'relay':
        // We could not reach it either. The asker decides; a suspicion of our own would be one
        // more record gossiped to everyone for each of the k relays of every failed probe, and
        // the suspicion's checkers confirm it anyway (lifeguard.ts).
        out.push({ kind: 'reply', reqId: p.reqId, msg: { type: 'nack', seq: p.seq } })
        return
      case 'sync':
      case 'sync-push':
      case 'leave':
      case 'notice':
        return
    }
  }

  private indirectFailed(target: NodeId, seq: number, now: Millis, out: Effect[]): void {
    const probe = this.probes.get(target)
    if (probe === undefined || probe.seq !== seq) return
    probe.indirectPending--
    // Every relay failed too, past the direct deadline: the direct ack may still come, but the
    // relays' word is the indirect round's, so the verdict does not wait for the round's end.
    if ((probe.directFailed || now >= probe.directDeadline) && probe.indirectPending <= 0) this.probeFailed(probe, now, out)
  }

  // --- connections, sync, leave -------------------------------------------------------------------

  /** A push-pull with a node of our cell we have no record of yet (a contact a directory gave us). */
  syncWith(peer: NodeId, now: Millis, out: Effect[]): void {
    if (!this.leaving && !this.table.has(peer)) this.sendSync(peer, now, out)
  }

  private onConnected(peer: NodeId, now: Millis, out: Effect[]): void {
    this.targets.connect(peer)
    const p = this.probes.get(peer)
    if (p?.dialing === true) Object.assign(p, { dialing: false, directDeadline: Math.min(p.directDeadline, now + this.scaled(this.config.probeTimeoutMs)), roundDeadline: Math.min(p.roundDeadline, now + this.scaled(this.config.probeRoundMs)) })
    if (!this.leaving && this.syncs.onConnected(peer, now)) this.sendSync(peer, now, out)
  }

  /** A closed connection is a hint, not a verdict: probe the member now instead of waiting its turn. */
  private onDisconnected(peer: NodeId, now: Millis, out: Effect[]): void {
    this.targets.disconnect(peer)
    if (this.leaving) return
    if (this.table.get(peer)?.state !== 'alive') return
    const p = this.probes.get(peer)
    if (p === undefined) {
      this.startProbe(peer, now, out)
    } else if (!p.directFailed) {
      // A probe is already under way, but its ping went out before the connection closed and
      // may only time out: ping again now, so a refused dial answers in milliseconds.
      this.send(peer, { type: 'ping', seq: p.seq, from: null }, this.scaled(this.config.probeTimeoutMs), { purpose: 'probe-direct', target: peer, seq: p.seq }, out)
    }
  }

  private sendSync(peer: NodeId, now: Millis, out: Effect[]): void {
    this.syncs.synced(peer, now)
    this.stats.syncs++
    const joining = this.liveOthers().length === 0
    this.send(peer, { type: 'sync', records: [], digest: this.table.digest(), cells: this.cells }, syncTimeoutMs(this.config, joining), { purpose: 'sync', peer }, out)
  }

  private onLeave(now: Millis, out: Effect[]): void {
    if (this.leaving) return
    this.self = { ...this.self, state: 'left', seq: this.self.seq + 1 }
    this.table.put(this.self, now)
    this.leaving = true
    this.probes.clear()
    this.suspicions.clear()
    this.outbox.push(this.self)
    // Gossip is best-effort; tell every live member directly as well, so they see `left` at once.
    for (const peer of this.liveOthers()) {
      this.send(peer, { type: 'leave', record: this.self }, this.config.probeTimeoutMs, { purpose: 'leave', peer }, out)
    }
    this.emit(out, { type: 'node', node: this.self.id, name: this.self.name, from: 'alive', to: 'left', incarnation: this.self.incarnation, reason: 'leaving' })
  }

  // --- helpers ------------------------------------------------------------------------------------

  private send(to: NodeId, msg: RpcRequest, timeoutMs: number, purpose: Pending, out: Effect[]): void {
    const corr = this.nextCorr()
    this.pending.set(corr, purpose)
    out.push({ kind: 'send', to, corr, msg, timeoutMs })
  }

  private emit(out: Effect[], event: ClusterEvent): void {
    out.push({ kind: 'emit', event })
  }

  private flush(out: Effect[]): void {
    if (this.selfDirty && this.outbox.hasClaims) {
      // Our own record changed and we publish anyway: carry it along instead of waiting a tick.
      this.outbox.push(this.self)
      this.selfDirty = false
    }
    this.outbox.flush(out)
  }
}
