// Taking a submit. The node the API reached sends the new job to its arbiter (its first live
// storing node), which keeps it, places its instances in the same step, and sends the job with
// those claims to the other storing nodes; it answers once min(replicas, live nodes) have it on
// disk, and only then is the submit acknowledged. Submitted to the arbiter itself, the first
// message goes away. A storing node that runs the job's only claim gets its copy with the start
// (job-grants.ts), so a job whose runner stores it costs one message per storing node.
//
// A storing node that fails is replaced by the next node in rank. When the arbiter does not
// answer, the node that took the submit stores the job itself the same way (the arbiter learns
// of it from the storing nodes' state exchange, or takes it from the next live one).
// A submit that another cell may take instead (`admit`, cell-router.ts) is stored only if this
// cell has room for it (admission.ts); else 409 `no_room` and nothing is stored.
import { checkAdmission } from './admission.js'
import type { JobBook } from './job-book.js'
import type { Grants } from './job-grants.js'
import type { AdmitMode, JobRecord, JobSpec } from './job-types.js'
import type { Effect, Millis, NodeId } from './types.js'
import type { toNodeView } from './job-status.js'

/** The error code of a refused admission: the router tries another cell. */
export const NO_ROOM = 'no_room'

/** Who is told when a job is on enough disks: the API of this node, or the node that sent it here. */
type ReplyTo = { kind: 'api'; reqId: number } | { kind: 'rpc'; reqId: number }

interface Coordination {
  record: JobRecord
  replyTo: ReplyTo[]
  /** Where its copies go, best first: its storing nodes, then (once a store failed) every live node. */
  ranking: readonly NodeId[]
  whole: boolean
  next: number
  need: number
  acks: Set<NodeId>
  inflight: Set<NodeId>
  /** Storing nodes whose copy comes with their run's start (Grants.defers). */
  deferred: Set<NodeId>
}

/** What taking a submit needs of the jobs machine besides the book. */
export interface SubmitHost {
  liveNodes(): number
  /** Every live node, ranked for the job (its storing nodes first). */
  ranking(jobId: string): NodeId[]
  /** Hold a new job (written if we store it); its arbiter (if that is us) places it now. */
  create(r: JobRecord, now: Millis, out: Effect[]): void
  /** Write a job we hold to our disk (we are one of the nodes it is stored on). */
  persist(jobId: string, out: Effect[]): void
  /** The member views admission ranks (capacity as this node knows it). */
  views(): ReturnType<typeof toNodeView>[]
}

export class Submits {
  private readonly coordinating = new Map<string, Coordination>()
  /** Submits sent to their arbiter: the job to store ourselves if it does not answer. */
  private readonly forwarded = new Map<number, JobRecord>()

  constructor(private readonly book: JobBook, private readonly grants: Grants, private readonly host: SubmitHost) {}

  /** An API submit on this node. */
  submit(reqId: number, id: string, spec: JobSpec, admit: AdmitMode | undefined, now: Millis, out: Effect[]): void {
    if (this.book.get(id) !== undefined && !this.coordinating.has(id)) {
      // Idempotency: the same key gives the same id, on any node; nothing new is created.
      out.push({ kind: 'api-reply', reqId, reply: { status: 201, body: { id } } })
      return
    }
    if (admit !== undefined) {
      const refusal = checkAdmission({ id, resources: spec.resources, constraints: spec.constraints, count: spec.count, sample: spec.type === 'batch' ? this.book.config.placementSample : 0, spare: admit === 'spare' }, this.host.views())
      if (refusal !== null) {
        out.push({ kind: 'api-reply', reqId, reply: { status: 409, body: { error: { code: NO_ROOM, message: refusal } } } })
        return
      }
    }
    const record: JobRecord = { id, spec, submittedAt: now, cancelled: false, allocations: {}, pendingReason: '', reasonVersion: 0 }
    const arbiter = this.book.replicaSet(id)[0]
    if (arbiter === undefined || arbiter === this.book.members.selfId) {
      this.coordinate(record, { kind: 'api', reqId }, now, out)
      return
    }
    this.forwarded.set(reqId, record)
    this.book.send(out, arbiter, { type: 'submit-job', job: record }, this.book.config.storeTimeoutMs, { purpose: 'submit', reqId, node: arbiter })
  }

  /** The arbiter's answer to a submit we sent it. */
  onForwardAnswer(reqId: number, ok: boolean, now: Millis, out: Effect[]): void {
    const record = this.forwarded.get(reqId)
    if (record === undefined) return
    this.forwarded.delete(reqId)
    if (ok) {
      this.book.stats.submitted++
      out.push({ kind: 'api-reply', reqId, reply: { status: 201, body: { id: record.id } } })
      return
    }
    // Store it ourselves on the live storing nodes (the arbiter among them, if it answers now).
    this.coordinate(record, { kind: 'api', reqId }, now, out)
  }

  /** A node sent us a new job as its arbiter: store it everywhere, then answer that request. */
  onSubmitJob(reqId: number, job: JobRecord, now: Millis, out: Effect[]): void {
    this.coordinate(job, { kind: 'rpc', reqId }, now, out)
  }

  /** A storing node answered a copy of a job we coordinate (its store, or its start with the job). */
  stored(jobId: string, node: NodeId, ok: boolean, now: Millis, out: Effect[]): void {
    const c = this.coordinating.get(jobId)
    if (c === undefined || (!c.inflight.delete(node) && !c.deferred.delete(node))) return
    if (ok) c.acks.add(node)
    else this.undefer(c, out)
    this.fill(c, now, out)
  }

  /** Coordinations under way (tests: none once every submit was answered). */
  held(): number {
    return this.coordinating.size + this.forwarded.size
  }

  private coordinate(record: JobRecord, replyTo: ReplyTo, now: Millis, out: Effect[]): void {
    const under = this.coordinating.get(record.id)
    if (under !== undefined) { under.replyTo.push(replyTo); return }
    this.host.create(record, now, out)
    const ranking = this.book.replicaSet(record.id)
    const live = this.host.liveNodes()
    const c: Coordination = {
      record, replyTo: [replyTo], ranking, whole: ranking.length >= live, next: 0,
      need: Math.min(this.book.config.replicas, live), acks: new Set(), inflight: new Set(), deferred: new Set(),
    }
    this.coordinating.set(record.id, c)
    this.fill(c, now, out)
  }

  /** Ask more nodes until enough have the job on disk; a failed one is replaced by the next in rank. */
  private fill(c: Coordination, now: Millis, out: Effect[]): void {
    const self = this.book.members.selfId
    const id = c.record.id
    while (c.acks.size + c.inflight.size + c.deferred.size < c.need) {
      if (c.next >= c.ranking.length) {
        if (c.whole) break
        const tried = new Set(c.ranking)
        c.ranking = [...c.ranking, ...this.host.ranking(id).filter((n) => !tried.has(n))]
        c.whole = true
        continue
      }
      const node = c.ranking[c.next++] as NodeId
      if (node === self) { this.host.persist(id, out); c.acks.add(node); continue }
      if (this.grants.defers(id, node)) { c.deferred.add(node); continue }
      this.sendCopy(c, node, out)
    }
    if (c.acks.size >= c.need && c.need > 0) this.finish(c, { status: 201, body: { id } }, out)
    else if (c.inflight.size === 0 && c.deferred.size === 0) {
      this.finish(c, { status: 503, body: { error: { code: 'unavailable', message: `could store the job on ${c.acks.size} of ${c.need} nodes; nothing was acknowledged` } } }, out)
    }
  }

  private sendCopy(c: Coordination, node: NodeId, out: Effect[]): void {
    const r = this.book.get(c.record.id) ?? c.record
    const claims = this.grants.claimsOf(r.id)
    this.grants.sending(node, claims)
    c.inflight.add(node)
    this.book.send(out, node, { type: 'store-job', job: r }, this.book.config.storeTimeoutMs, { purpose: 'store', jobId: r.id, node, claims })
  }

  /** A store failed: copies that waited for a start go now, plain (the start may wait long). */
  private undefer(c: Coordination, out: Effect[]): void {
    for (const node of [...c.deferred]) {
      c.deferred.delete(node)
      this.sendCopy(c, node, out)
    }
  }

  private finish(c: Coordination, reply: { status: number; body: unknown }, out: Effect[]): void {
    this.coordinating.delete(c.record.id)
    if (reply.status === 201) this.book.stats.submitted++
    for (const to of c.replyTo) {
      if (to.kind === 'api') out.push({ kind: 'api-reply', reqId: to.reqId, reply })
      else out.push({ kind: 'reply', reqId: to.reqId, msg: reply.status === 201 ? { type: 'ok' } : { type: 'error', code: 'unavailable', message: String((reply.body as { error: { message: string } }).error.message) } })
    }
  }
}
