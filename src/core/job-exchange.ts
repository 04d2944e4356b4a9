// Anti-entropy between the nodes that share a job, runners' leases, and reads of jobs this node
// does not hold.
//
// A job change goes by rpc to the job's storing nodes and the nodes running it (jobs.ts, as
// deltas); nothing per job is broadcast. So:
//
// - Anti-entropy: every jobSyncMs a node sends one node it stores jobs with (in turn) the digests
//   of the jobs both should hold; the answer brings back what differs and what the sender should
//   hold and did not list, and names what the answerer wants, which the sender pushes. Per node
//   this is O(jobs it shares with that peer), not O(jobs in the cluster) (job-holders.ts).
// - Leases: a node running an instance of a job it does not store sends the job's first storing
//   node its digest every jobSyncMs. A runner that was frozen or cut off while its run was given
//   away was not among the nodes the change went to; this is how it learns, and stops its copy.
// - Reads: GET /v1/jobs/{id} on a node that does not store the job asks the storing nodes;
//   GET /v1/jobs asks every live node for the jobs it stores, page by page, and merges.
import type { JobBook } from './job-book.js'
import { HolderIndex } from './job-holders.js'
import { mergeJob } from './job-merge.js'
import { toJobStatus } from './job-status.js'
import type { JobRecord } from './job-types.js'
import type { Effect, JobDigests, Millis, NodeId, RpcResponse } from './types.js'

/** What the exchange needs of the job table besides the book. */
export interface ExchangeTable {
  readonly jobs: ReadonlyMap<string, JobRecord>
  digestOf(id: string): string | undefined
  /** A copy from a peer: merged into ours (JobTable.receive). */
  receive(r: JobRecord, now: Millis, out: Effect[]): void
  /** A state exchange answered: a restarted node may arbitrate now. */
  caughtUp(): void
  /** Whether a job was collected here within its tombstone's window (retention.ts). */
  collected(id: string, now: Millis): boolean
  /** A read made for a cancel found the job (or found nothing): the cancel goes on (jobs.ts). */
  cancelRead(reqId: number, id: string, found: JobRecord | undefined, now: Millis, out: Effect[]): void
}

/** What a read is for: an answer to the API, or a cancel of a job this node may not hold. */
export type ReadPurpose = 'api' | 'cancel'

interface Read {
  reqId: number
  /** One job, or the whole listing (null). */
  id: string | null
  waiting: number
  found: Map<string, JobRecord>
  /** A node said the job was collected (or we know it was). */
  collected: boolean
  purpose: ReadPurpose
}

/** Bytes of records per listing page: a page stays far below the rpc frame cap (4 MiB). */
const PAGE_BYTES = 1 << 20
/** Bytes of copies a peer lacks that one exchange answer carries (onSync); as a listing page. */
const REPAIR_BYTES = PAGE_BYTES

export class JobExchange {
  private nextSyncAt = 0
  private turn = 0
  private readonly reads = new Map<number, Read>()
  /** Jobs read from our disk at start-up whose copy no other storing node has confirmed yet (see get). */
  private readonly fromDisk = new Set<string>()
  private nextRead = 1

  private readonly holders: HolderIndex

  constructor(private readonly book: JobBook, private readonly table: ExchangeTable) {
    this.holders = new HolderIndex({
      self: book.members.selfId, jobs: table.jobs,
      replicaSet: (id) => book.replicaSet(id), liveVersion: () => book.members.liveVersion(),
    })
  }

  private get self(): NodeId {
    return this.book.members.selfId
  }

  /** The table set `r`: keeps the index of who holds what current. */
  noteJob(r: JobRecord): void {
    this.holders.noteJob(r)
  }

  /** The table dropped a job (collected). */
  forgetJob(id: string): void {
    this.holders.forget(id)
    this.fromDisk.delete(id)
  }

  // --- anti-entropy and leases --------------------------------------------------------------------

  /** When onTick next has something to do. */
  wakeAt(): Millis {
    return this.nextSyncAt
  }

  /** Every jobSyncMs (every tick while `eager`: a restarted node catching up). */
  onTick(now: Millis, eager: boolean, out: Effect[]): void {
    if (!eager && now < this.nextSyncAt) return
    this.nextSyncAt = now + this.book.config.jobSyncMs
    const leases = new Map<NodeId, JobDigests>()
    for (const id of this.holders.leased()) {
      const to = this.book.replicaSet(id)[0]
      if (to === undefined) continue
      const d = leases.get(to) ?? {}
      d[id] = this.table.digestOf(id) ?? ''
      leases.set(to, d)
    }
    for (const [to, digests] of leases) this.sync(to, digests, out)
    const peers = this.holders.peers()
    if (peers.length === 0) return
    const peer = peers[this.turn++ % peers.length] as NodeId
    const digests: JobDigests = {}
    for (const id of this.holders.heldBy(peer)) digests[id] = this.table.digestOf(id) ?? ''
    this.sync(peer, digests, out)
  }

  private sync(to: NodeId, digests: JobDigests, out: Effect[]): void {
    this.book.send(out, to, { type: 'job-sync', digests }, this.book.config.storeTimeoutMs, { purpose: 'job-sync', node: to })
  }

  /** A peer's digests: what differs or it should hold and did not list; what we want of it. */
  onSync(from: NodeId, digests: JobDigests): RpcResponse {
    const jobs: JobRecord[] = []
    const want: string[] = []
    for (const [id, d] of Object.entries(digests)) {
      const mine = this.table.jobs.get(id)
      if (mine === undefined) { want.push(id); continue }
      if (this.table.digestOf(id) === d) continue
      jobs.push(mine)
      want.push(id)
    }
    let bytes = 0
    for (const id of this.holders.heldBy(from)) {
      if (digests[id] !== undefined) continue
      const r = this.table.jobs.get(id) as JobRecord
      // As a listing page: at least one record, however large; the next exchange brings the rest.
      const n = JSON.stringify(r).length
      if (jobs.length > 0 && bytes + n > REPAIR_BYTES) break
      bytes += n
      jobs.push(r)
    }
    return { type: 'jobs', jobs, want }
  }

  onSyncAnswer(from: NodeId, msg: RpcResponse | null, now: Millis, out: Effect[]): void {
    if (msg === null || msg.type !== 'jobs') return
    for (const j of msg.jobs) { this.table.receive(j, now, out); this.fromDisk.delete(j.id) }
    this.table.caughtUp()
    const push = (msg.want ?? []).map((id) => this.table.jobs.get(id)).filter((r): r is JobRecord => r !== undefined)
    if (push.length > 0) this.book.send(out, from, { type: 'job-update', jobs: push }, this.book.config.storeTimeoutMs, { purpose: 'sync-push' })
  }

  // --- reads ----------------------------------------------------------------------------------------

  /** A job this node read from its disk at start-up. */
  loadedFromDisk(id: string): void {
    this.fromDisk.add(id)
  }

  /**
   * GET /v1/jobs/{id} (or the read before a cancel): from our copy when we store the job, else
   * from its storing nodes (merged with any copy we hold). A copy read from our disk at start-up
   * is not enough until another storing node's copy was merged into it: answering from it alone
   * took back a success this node had reported before it restarted.
   */
  get(reqId: number, id: string, purpose: ReadPurpose, now: Millis, out: Effect[]): void {
    const set = this.book.replicaSet(id)
    const mine = this.table.jobs.get(id)
    const others = set.filter((n) => n !== this.self)
    const read = this.open(reqId, id, mine, purpose)
    read.read.collected = this.table.collected(id, now)
    if ((mine !== undefined && set.includes(this.self) && !this.fromDisk.has(id)) || others.length === 0 || read.read.collected) {
      this.finish(read.readId, now, out)
      return
    }
    for (const n of others) this.fetch(read.readId, n, [id], out)
  }

  /** GET /v1/jobs: every live node lists the jobs it stores; the merge of all is the answer. */
  list(reqId: number, now: Millis, out: Effect[]): void {
    const read = this.open(reqId, null, undefined, 'api')
    for (const id of this.holders.stored()) read.read.found.set(id, this.table.jobs.get(id) as JobRecord)
    const others = this.book.members.liveOthers()
    if (others.length === 0) { this.finish(read.readId, now, out); return }
    for (const n of others) this.fetch(read.readId, n, null, out)
  }

  /** A job-fetch: the records asked for, or a page of the jobs we store (ids after `after`). */
  onFetch(ids: string[] | null, after: string | undefined, now: Millis): RpcResponse {
    if (ids !== null) {
      const collected = ids.filter((id) => this.table.collected(id, now))
      const jobs = ids.map((id) => this.table.jobs.get(id)).filter((r): r is JobRecord => r !== undefined)
      return collected.length === 0 ? { type: 'jobs', jobs } : { type: 'jobs', jobs, collected }
    }
    const stored = this.holders.stored().filter((id) => after === undefined || id > after).sort()
    const page: JobRecord[] = []
    let bytes = 0
    for (const id of stored) {
      const r = this.table.jobs.get(id) as JobRecord
      const n = JSON.stringify(r).length
      if (page.length > 0 && bytes + n > PAGE_BYTES) return { type: 'jobs', jobs: page, next: page[page.length - 1]?.id as string }
      page.push(r)
      bytes += n
    }
    return { type: 'jobs', jobs: page }
  }

  onFetchAnswer(readId: number, node: NodeId, msg: RpcResponse | null, now: Millis, out: Effect[]): void {
    const read = this.reads.get(readId)
    if (read === undefined) return
    read.waiting--
    if (msg !== null && msg.type === 'jobs') {
      if (read.id !== null && msg.collected?.includes(read.id) === true) read.collected = true
      for (const j of msg.jobs) {
        const cur = read.found.get(j.id)
        read.found.set(j.id, cur === undefined ? j : mergeJob(cur, j))
        // Our copy from disk, brought up to date by another storing node's.
        if (this.fromDisk.delete(j.id)) this.table.receive(j, now, out)
      }
      // A listing page that was cut short names where the next one starts.
      const next = read.id === null ? msg.next : undefined
      if (next !== undefined) this.fetch(readId, node, null, out, next)
    }
    if (read.waiting <= 0) this.finish(readId, now, out)
  }

  private open(reqId: number, id: string | null, mine: JobRecord | undefined, purpose: ReadPurpose): { readId: number; read: Read } {
    const readId = this.nextRead++
    const read: Read = { reqId, id, waiting: 0, found: new Map(mine === undefined ? [] : [[mine.id, mine]]), purpose, collected: false }
    this.reads.set(readId, read)
    return { readId, read }
  }

  private fetch(readId: number, node: NodeId, ids: string[] | null, out: Effect[], after?: string): void {
    const read = this.reads.get(readId)
    if (read === undefined) return
    read.waiting++
    this.book.send(out, node, { type: 'job-fetch', ids, ...(after === undefined ? {} : { after }) }, this.book.config.readTimeoutMs, { purpose: 'read', readId, node })
  }

  private finish(readId: number, now: Millis, out: Effect[]): void {
    const read = this.reads.get(readId)
    if (read === undefined) return
    this.reads.delete(readId)
    if (read.id !== null) {
      const r = read.found.get(read.id)
      if (read.purpose === 'cancel') { this.table.cancelRead(read.reqId, read.id, r, now, out); return }
      out.push({ kind: 'api-reply', reqId: read.reqId, reply: r !== undefined
        ? { status: 200, body: toJobStatus(r) }
        : read.collected
          ? { status: 404, body: { error: { code: 'collected', message: `job ${read.id} ended and was removed after its retention window` } } }
          : { status: 404, body: { error: { code: 'not_found', message: `no job ${read.id}` } } } })
      return
    }
    const jobs = [...read.found.values()].sort((a, b) => a.submittedAt - b.submittedAt || (a.id < b.id ? -1 : 1)).map(toJobStatus)
    out.push({ kind: 'api-reply', reqId: read.reqId, reply: { status: 200, body: { jobs } } })
  }

  /** Reads under way (a leaving node lets them finish). */
  get pendingReads(): number {
    return this.reads.size
  }
}
