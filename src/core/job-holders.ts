// Who holds which job, by the protocol: a node holds a job when it is one of its storing nodes or
// runs one of its instances. The state exchange (job-exchange.ts) asks this every jobSyncMs, for
// the peer it syncs with and for every peer that syncs with it. Walking the whole job table for it
// (the table keeps every job this node ever held) made anti-entropy a third of the simulator's
// time at 10,000 nodes after a workload; this index answers in O(jobs shared with that node).
//
// Kept per live version (storing nodes move only when the live set does: then it is rebuilt on
// the next question) and told of every record the table sets (runners move with the record;
// the jobs set since the last question are placed again when the next one comes).
// Answers list jobs in the table's own order (first insertion), as the walks did.
import type { JobRecord } from './job-types.js'
import { isTerminalAlloc } from './job-merge.js'
import type { NodeId } from './types.js'

interface Index {
  version: number
  /** Other node -> the jobs it holds and we hold too (see place: when a mere copy counts). */
  byHolder: Map<NodeId, Set<string>>
  /**
   * Job -> the other nodes that hold it (what byHolder lists it under); absent: none. Most jobs a
   * node keeps are ended ones that no other node is told of (see place), or that no other node
   * holds (a node alone): an entry for each cost ~46 bytes of a retained job's memory.
   */
  holders: Map<string, readonly NodeId[]>
  /** Other nodes that store at least one of the jobs we store, with how many (our exchange peers). */
  storePeers: Map<NodeId, number>
  /** Jobs we run and do not store: we renew a lease on each with its first storing node. */
  leased: Set<string>
  /** storePeers, sorted; null when one was added since. */
  sortedPeers: NodeId[] | null
}

export interface HolderSource {
  readonly self: NodeId
  readonly jobs: ReadonlyMap<string, JobRecord>
  replicaSet(jobId: string): NodeId[]
  liveVersion(): number
}

const NONE: readonly string[] = []

export class HolderIndex {
  private index: Index | null = null
  /**
   * Each job's place in the table's insertion order, times two, plus one when the current index
   * counts it as a job we store. One map for both, in that order (a job's entry is made when it
   * is first set and goes when it is collected, as the table's): a set of the stored jobs beside
   * it cost ~33 bytes of every retained job, and listing them is a walk of this map, in order.
   */
  private readonly seq = new Map<string, number>()
  private nextSeq = 0
  /** Jobs set since the index last answered: placed on the next question (a job changes several times between two). */
  private readonly dirty = new Set<string>()

  constructor(private readonly src: HolderSource) {}

  /** The table set `r` (a new job or a new version of one). */
  noteJob(r: JobRecord): void {
    if (!this.seq.has(r.id)) this.seq.set(r.id, 2 * this.nextSeq++)
    if (this.index !== null) this.dirty.add(r.id)
  }

  /** The table dropped a job (collected): it is held by nobody. */
  forget(id: string): void {
    const wasStored = this.isStored(id)
    this.seq.delete(id)
    this.dirty.delete(id)
    const idx = this.index
    if (idx === null) return
    for (const n of idx.holders.get(id) ?? []) idx.byHolder.get(n)?.delete(id)
    if (wasStored) {
      // Storing nodes are fixed per version: the ones this job counted when it was first placed.
      for (const n of this.src.replicaSet(id)) {
        if (n === this.src.self) continue
        const count = (idx.storePeers.get(n) ?? 1) - 1
        if (count > 0) { idx.storePeers.set(n, count); continue }
        idx.storePeers.delete(n)
        idx.sortedPeers = null
      }
    }
    idx.holders.delete(id)
    idx.leased.delete(id)
  }

  /** The jobs in our table that `node` holds, in table order. */
  heldBy(node: NodeId): readonly string[] {
    const ids = this.current().byHolder.get(node)
    return ids === undefined ? NONE : this.ordered(ids)
  }

  /** The nodes we store at least one job with, sorted (do not change the array). */
  peers(): readonly NodeId[] {
    const idx = this.current()
    idx.sortedPeers ??= [...idx.storePeers.keys()].sort()
    return idx.sortedPeers
  }

  /** Jobs we run and do not store, in table order. */
  leased(): readonly string[] {
    return this.ordered(this.current().leased)
  }

  /** Jobs we store, in table order. */
  stored(): readonly string[] {
    this.current()
    const out: string[] = []
    for (const [id, v] of this.seq) if (v % 2 === 1) out.push(id)
    return out
  }

  private isStored(id: string): boolean {
    return (this.seq.get(id) ?? 0) % 2 === 1
  }

  private markStored(id: string, stored: boolean): void {
    const v = this.seq.get(id)
    if (v !== undefined && (v % 2 === 1) !== stored) this.seq.set(id, stored ? v + 1 : v - 1)
  }

  private ordered(ids: Set<string>): string[] {
    const out = [...ids]
    if (out.length > 1) out.sort((a, b) => (this.seq.get(a) as number) - (this.seq.get(b) as number))
    return out
  }

  private current(): Index {
    const version = this.src.liveVersion()
    let idx = this.index
    if (idx === null || idx.version !== version) {
      idx = { version, byHolder: new Map(), holders: new Map(), storePeers: new Map(), leased: new Set(), sortedPeers: null }
      this.index = idx
      this.dirty.clear()
      for (const id of this.seq.keys()) this.markStored(id, false)
      for (const r of this.src.jobs.values()) this.place(idx, r)
    } else if (this.dirty.size > 0) {
      for (const id of this.dirty) this.place(idx, this.src.jobs.get(id) as JobRecord)
      this.dirty.clear()
    }
    return idx
  }

  /** Put `r` where it belongs now, taking it out of where it was. */
  private place(idx: Index, r: JobRecord): void {
    const self = this.src.self
    const set = this.src.replicaSet(r.id)
    const stored = set.includes(self)
    let holders: NodeId[] = []
    for (const n of set) if (n !== self) holders.push(n)
    let runsHere = false
    for (const k in r.allocations) {
      const a = r.allocations[k] as JobRecord['allocations'][string]
      if (isTerminalAlloc(a.state)) continue
      if (a.nodeId === self) runsHere = true
      else if (!holders.includes(a.nodeId)) holders.push(a.nodeId)
    }
    // Reads go to the storing nodes: a copy kept after our run ended (or from a read) is nobody's
    // business. Its holders do not list it to us, so indexing it made every exchange push it back
    // to each of them (at 1,000 nodes, ~16,000 unchanged records in a workload's 74 s tail).
    if (!stored && !runsHere) holders = []
    // Storing nodes are fixed per version, so a job adds its store peers when it is first
    // placed among the stored ones.
    if (stored && !this.isStored(r.id)) {
      for (const n of set) {
        if (n === self) continue
        const count = idx.storePeers.get(n) ?? 0
        idx.storePeers.set(n, count + 1)
        if (count === 0) idx.sortedPeers = null
      }
    }
    const before = idx.holders.get(r.id)
    if (before !== undefined) for (const n of before) if (!holders.includes(n)) idx.byHolder.get(n)?.delete(r.id)
    for (const n of holders) {
      let s = idx.byHolder.get(n)
      if (s === undefined) { s = new Set(); idx.byHolder.set(n, s) }
      s.add(r.id)
    }
    if (holders.length === 0) idx.holders.delete(r.id)
    else idx.holders.set(r.id, holders)
    if (!stored && runsHere) idx.leased.add(r.id)
    else idx.leased.delete(r.id)
    this.markStored(r.id, stored)
  }
}
