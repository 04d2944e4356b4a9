// Replica repair. When the live set changes, a job's storing nodes (top 3 by rendezvous hash) may
// change: a node that became one writes its copy to disk, and a node that stored the job before
// and still does sends its copy to each newcomer, which acknowledges once it is on disk. Copies
// owed to a node go in batches under the gossip batch size, one batch in flight per node.
import { live, type JobBook } from './job-book.js'
import { recordBatches } from './job-status.js'
import type { JobRecord } from './job-types.js'
import { rankFor } from './replica-ranking.js'
import type { Effect, NodeId } from './types.js'

/** What repair needs of the job table (JobTable). */
export interface RepairTable {
  all(): ReadonlyMap<string, JobRecord>
  isPersisted(id: string): boolean
  persist(id: string, out: Effect[]): void
}

export class ReplicaRepair {
  /** The live set the replica sets were last checked against. */
  private checkedLive: NodeId[] | null = null
  /** The membership live version checkedLive was taken at: while it stands, nothing to compare. */
  private checkedVersion = -1
  /** Copies owed to nodes that became storing nodes: node -> job ids. */
  private readonly owed = new Map<NodeId, Set<string>>()
  private readonly inFlight = new Set<NodeId>()

  constructor(private readonly book: JobBook) {}

  /**
   * On every tick: if the live set changed, find what we owe (and write what we now store);
   * then send what is owed.
   */
  check(table: RepairTable, out: Effect[]): void {
    const jobs = table.all()
    const version = this.book.members.liveVersion()
    if (version === this.checkedVersion) {
      if (this.owed.size > 0) this.send(out)
      return
    }
    this.checkedVersion = version
    const liveIds = this.book.members.records().filter(live).map((r) => r.id)
    const prev = this.checkedLive
    if (prev !== null && prev.length === liveIds.length && prev.every((id, i) => id === liveIds[i])) {
      this.send(out)
      return
    }
    this.checkedLive = liveIds
    if (prev === null) return
    const self = this.book.members.selfId
    const replicas = this.book.config.replicas
    for (const [id, r] of jobs) {
      const now3 = this.book.replicaSet(id)
      if (!now3.includes(self)) continue
      if (!table.isPersisted(id)) table.persist(r.id, out)
      const before = rankFor(id, prev).slice(0, replicas)
      if (!before.includes(self)) continue
      for (const n of now3) {
        if (n === self || before.includes(n)) continue
        const owed = this.owed.get(n) ?? new Set<string>()
        owed.add(id)
        this.owed.set(n, owed)
      }
    }
    // Owed copies to nodes that are no longer storing nodes (or alive) are dropped.
    for (const [n, ids] of this.owed) {
      if (!live(this.book.members.record(n))) { this.owed.delete(n); continue }
      for (const id of ids) if (!this.book.replicaSet(id).includes(n)) ids.delete(id)
      if (ids.size === 0) this.owed.delete(n)
    }
    this.send(out)
  }

  /** A batch's answer: counted when on the node's disk, owed again (while still owed) when not. */
  onAnswer(node: NodeId, ids: string[], ok: boolean): void {
    this.inFlight.delete(node)
    if (ok) {
      this.book.stats.replicasRepaired += ids.length
      return
    }
    const owed = this.owed.get(node) ?? new Set<string>()
    for (const id of ids) owed.add(id)
    this.owed.set(node, owed)
  }

  /** Whether the next check has work: the live set moved since the last, or copies are owed. */
  due(): boolean {
    return this.book.members.liveVersion() !== this.checkedVersion || this.owed.size > 0
  }

  private send(out: Effect[]): void {
    for (const [n, ids] of this.owed) {
      if (this.inFlight.has(n)) continue
      const records = [...ids].map((id) => this.book.get(id)).filter((r): r is JobRecord => r !== undefined)
      const batch = recordBatches(records, this.book.config.recordBatchBytes)[0] ?? []
      for (const r of batch) ids.delete(r.id)
      if (ids.size === 0) this.owed.delete(n)
      if (batch.length === 0) continue
      this.inFlight.add(n)
      this.book.send(out, n, { type: 'job-update', jobs: batch }, this.book.config.storeTimeoutMs, { purpose: 'repair', node: n, ids: batch.map((r) => r.id) })
    }
  }
}
