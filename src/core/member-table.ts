// The member table: one record per member (this node's own included), when each was last heard
// from, the versions the job machine and the digests key on, and the reaping of members that are
// gone (Serf's reconnect timeout and tombstones). Pure data: the protocol that decides what goes
// in is membership.ts.
//
// Reaping. A dead or left member stays in the table for reapAfterMs after this node saw it go
// (Serf keeps failed members 24 h), so that a node's table holds the members of the last day, not
// of all time. Every node drops it about reapAfterMs after the death or leave reached it, that is
// at about the same time, and two rules keep it from coming back through a push-pull with a node
// that has not dropped it yet:
//  - a member we do not know enters the table only through a live record (as in memberlist: a
//    dead or left record of a stranger is news of nothing we hold);
//  - a reaped member leaves a tombstone (its id and incarnation) for another reapAfterMs: a record
//    of it at that incarnation or below, even a live one from a node that never heard of the
//    death, is ignored. A member that comes back (a restart, with a higher incarnation) joins.
import type { MembershipConfig } from './config.js'
import { differingBuckets, inBuckets, tableDigest } from './table-digest.js'
import type { MemberState, Millis, NodeId, NodeRecord, NodeStatus } from './types.js'
import { toStatus } from './records.js'

interface Member {
  record: NodeRecord
  /** Last time we had direct evidence of life: a message from it, an ack, its own gossip. */
  lastHeard: Millis
  /** When it became dead or left here (undefined while live): its reaping clock. */
  downSince?: Millis
}

/** A reaped member: records of it at or below this incarnation are old news until `until`. */
interface Tombstone {
  incarnation: number
  until: Millis
}

export function isLive(state: MemberState): boolean {
  return state === 'alive' || state === 'suspect'
}

export class MemberTable {
  private readonly members = new Map<NodeId, Member>()
  private readonly tombstones = new Map<NodeId, Tombstone>()
  /** Earliest time a dead member or a tombstone may be due (Infinity: none held). */
  private nextReapAt = Infinity
  private liveChanges = 0
  /** Bumped on every change of the table: the key of the cached digest. */
  private tableChanges = 0
  private digestCache: { at: number; digest: string[] } | null = null
  private liveOthersCache: { at: number; ids: readonly NodeId[] } = { at: -1, ids: [] }
  private liveCountCache = { at: -1, n: 0 }
  /**
   * Members held in state dead. The periodic reconnect (sync-schedule.ts) looks for one every
   * reconnectIntervalMs on every node; in a healthy cell there is none, and walking every record
   * to find that out touched ~100 records per node that are cold in cache at 10,000 nodes.
   */
  private deadCount = 0

  constructor(private readonly selfId: NodeId, private readonly config: MembershipConfig) {}

  get(id: NodeId): NodeRecord | undefined {
    return this.members.get(id)?.record
  }

  has(id: NodeId): boolean {
    return this.members.has(id)
  }

  /** Every record held, this node's own included. */
  records(): NodeRecord[] {
    return [...this.members.values()].map((m) => m.record)
  }

  /** The records in state dead, in table order (the same array records().filter would give). */
  deadRecords(): NodeRecord[] {
    if (this.deadCount === 0) return []
    const out: NodeRecord[] = []
    for (const m of this.members.values()) if (m.record.state === 'dead') out.push(m.record)
    return out
  }

  /** Bumped whenever a member becomes live or stops being live. */
  liveVersion(): number {
    return this.liveChanges
  }

  /** Bumped on every change to any member's record. */
  tableVersion(): number {
    return this.tableChanges
  }

  /** Members that are alive or suspect, this node included. */
  liveCount(): number {
    // Asked on every tick and every wake-up computation: counted again only when the live set changed.
    if (this.liveCountCache.at === this.liveChanges) return this.liveCountCache.n
    let n = 0
    for (const m of this.members.values()) if (isLive(m.record.state)) n++
    this.liveCountCache = { at: this.liveChanges, n }
    return n
  }

  /** Live members but us, sorted; kept per live version (callers copy before changing it). */
  liveOthers(): readonly NodeId[] {
    if (this.liveOthersCache.at === this.liveChanges) return this.liveOthersCache.ids
    const ids: NodeId[] = []
    for (const [id, m] of this.members) if (id !== this.selfId && isLive(m.record.state)) ids.push(id)
    ids.sort()
    this.liveOthersCache = { at: this.liveChanges, ids }
    return ids
  }

  statuses(now: Millis): NodeStatus[] {
    return [...this.members.values()].map((m) => toStatus(m.record, m.record.id === this.selfId ? now : m.lastHeard, now))
  }

  nameOf(id: NodeId): string {
    return this.members.get(id)?.record.name ?? id.slice(-8)
  }

  /** When this node last had a message straight from `id`. */
  lastHeard(id: NodeId): Millis | undefined {
    return this.members.get(id)?.lastHeard
  }

  /** Direct evidence of life from `id`. */
  heard(id: NodeId, now: Millis): void {
    const m = this.members.get(id)
    if (m !== undefined) m.lastHeard = now
  }

  /**
   * Whether a record of another member may enter the table at all (before it is compared with
   * what we hold): not a stranger's death or leave, not a reaped member's old incarnation.
   */
  admits(r: NodeRecord, now: Millis): boolean {
    if (this.members.has(r.id)) return true
    if (!isLive(r.state)) return false
    const t = this.tombstones.get(r.id)
    return t === undefined || t.until <= now || r.incarnation > t.incarnation
  }

  /** Put a record (already merged by the caller); returns the state it replaced. */
  put(r: NodeRecord, now: Millis): MemberState | 'unknown' {
    const m = this.members.get(r.id)
    const from: MemberState | 'unknown' = m === undefined ? 'unknown' : m.record.state
    // This node's own record is never reaped (it leaves; it does not forget itself).
    const down = isLive(r.state) || r.id === this.selfId ? undefined : from !== 'unknown' && !isLive(from) ? m?.downSince : now
    this.members.set(r.id, { record: r, lastHeard: m?.lastHeard ?? now, downSince: down })
    if (from === 'dead') this.deadCount--
    if (r.state === 'dead') this.deadCount++
    if (down !== undefined) this.nextReapAt = Math.min(this.nextReapAt, down + this.config.reapAfterMs)
    this.tombstones.delete(r.id)
    this.tableChanges++
    if ((from !== 'unknown' && isLive(from)) !== isLive(r.state)) this.liveChanges++
    return from
  }

  /** When reap() next has something to do (Infinity: nothing held is going). */
  reapDue(): Millis {
    return this.nextReapAt
  }

  /** Drop the members gone for reapAfterMs (leaving tombstones) and the tombstones past their time. */
  reap(now: Millis): NodeId[] {
    if (now < this.nextReapAt) return []
    const reaped: NodeId[] = []
    let next = Infinity
    for (const [id, m] of this.members) {
      if (m.downSince === undefined) continue
      const due = m.downSince + this.config.reapAfterMs
      if (due > now) {
        next = Math.min(next, due)
        continue
      }
      this.members.delete(id)
      if (m.record.state === 'dead') this.deadCount--
      this.tombstones.set(id, { incarnation: m.record.incarnation, until: now + this.config.reapAfterMs })
      reaped.push(id)
    }
    for (const [id, t] of this.tombstones) {
      if (t.until <= now) this.tombstones.delete(id)
      else next = Math.min(next, t.until)
    }
    this.nextReapAt = next
    if (reaped.length > 0) this.tableChanges++
    return reaped
  }

  /** Members reaped and still remembered as gone (tests, metrics). */
  tombstoneCount(): number {
    return this.tombstones.size
  }

  /**
   * The answer to a push-pull that carried `theirs` (a peer's digest): the records of the buckets
   * that differ, and which buckets those are (the peer then pushes its side of them); the whole
   * table to a peer that sent no digest.
   */
  syncAnswer(theirs: readonly string[] | undefined): { records: NodeRecord[]; buckets?: number[] } {
    if (theirs === undefined) return { records: this.records() }
    const buckets = differingBuckets(this.digest(), theirs)
    // The usual answer of a steady cell: the tables agree, and no record is looked at.
    return { records: buckets.length === 0 ? [] : inBuckets(this.records(), buckets), buckets }
  }

  /** The records of these digest buckets (our side of a push-pull's differences). */
  inBuckets(buckets: readonly number[]): NodeRecord[] {
    return buckets.length === 0 ? [] : inBuckets(this.records(), buckets)
  }

  /** The table's bucket digest, computed again only after the table changed. */
  digest(): string[] {
    if (this.digestCache?.at !== this.tableChanges) this.digestCache = { at: this.tableChanges, digest: tableDigest(this.records()) }
    return this.digestCache.digest
  }
}
