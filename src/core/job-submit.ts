// Taking a submit: the job goes to its storing nodes over direct requests and is acknowledged only
// once min(replicas, live nodes) of them have it on disk; a storing node that fails is replaced by
// the next node in rank. A submit that another cell may take instead (`admit`, cell-router.ts)
// is stored only once this cell found room for it (admission.ts); else it is refused with 409
// `no_room` and nothing is stored.
import type { AdmitJob, Verdict } from './admission.js'
import type { JobBook, Pending } from './job-book.js'
import type { AdmitMode, JobRecord, JobSpec } from './job-types.js'
import type { Effect, Millis, NodeId } from './types.js'

/** The error code of a refused admission: the router tries another cell. */
export const NO_ROOM = 'no_room'

interface Submit {
  reqId: number
  record: JobRecord
  /** Where its copies go, best first: its storing nodes, then (once a store failed) every live node. */
  ranking: readonly NodeId[]
  whole: boolean
  next: number
  need: number
  acks: Set<NodeId>
  inflight: number
  /** The node that reserved the first instance at admission: told to the arbiter with its copy. */
  reserved: NodeId | undefined
}

/** What a submit needs of the jobs machine besides the book. */
export interface SubmitHost {
  liveNodes(): number
  /** Every live node, ranked for the job (its storing nodes first). */
  ranking(jobId: string): NodeId[]
  persist(r: JobRecord, out: Effect[]): void
  admit(job: AdmitJob, now: Millis, out: Effect[], done: Verdict): void
  /** A node reserved the first instance of a job we arbitrate (see `reserved`). */
  reserved(jobId: string, node: NodeId, now: Millis): void
}

export class Submits {
  private readonly submits = new Map<number, Submit>()

  constructor(private readonly book: JobBook, private readonly host: SubmitHost) {}

  submit(reqId: number, id: string, spec: JobSpec, admit: AdmitMode | undefined, now: Millis, out: Effect[], reserved?: NodeId): void {
    if (this.book.get(id) !== undefined) {
      // Idempotency: the same key gives the same id, on any node; nothing new is created.
      out.push({ kind: 'api-reply', reqId, reply: { status: 201, body: { id } } })
      return
    }
    if (admit !== undefined) {
      const job = { id, resources: spec.resources, constraints: spec.constraints, count: spec.count, sample: spec.type === 'batch' ? this.book.config.placementSample : 0, spare: admit === 'spare' }
      this.host.admit(job, now, out, (admitted, reason, at, o) => {
        if (admitted !== null) this.submit(reqId, id, spec, undefined, at, o, admitted.reserved)
        else o.push({ kind: 'api-reply', reqId, reply: { status: 409, body: { error: { code: NO_ROOM, message: reason } } } })
      })
      return
    }
    // The storing nodes first (cached); the whole ranking (a pass over the cell) only if one fails.
    const ranking = this.book.replicaSet(id)
    const live = this.host.liveNodes()
    const s: Submit = {
      reqId, ranking, whole: ranking.length >= live, next: 0, need: Math.min(this.book.config.replicas, live), acks: new Set(), inflight: 0,
      reserved,
      record: { id, spec, submittedAt: now, cancelled: false, allocations: {}, pendingReason: '', reasonVersion: 0 },
    }
    this.submits.set(reqId, s)
    this.fill(s, now, out)
  }

  onStored(p: Extract<Pending, { purpose: 'store' }>, ok: boolean, now: Millis, out: Effect[]): void {
    const s = this.submits.get(p.reqId)
    if (s === undefined) return
    s.inflight--
    if (ok) s.acks.add(p.node)
    this.fill(s, now, out)
  }

  /** Ask more replicas until enough have the job on disk; a failed one is replaced by the next in rank. */
  private fill(s: Submit, now: Millis, out: Effect[]): void {
    while (s.acks.size + s.inflight < s.need) {
      if (s.next >= s.ranking.length) {
        if (s.whole) break
        const tried = new Set(s.ranking)
        s.ranking = [...s.ranking, ...this.host.ranking(s.record.id).filter((n) => !tried.has(n))]
        s.whole = true
        continue
      }
      // The first is the job's arbiter: it hears which node reserved the first instance.
      const reserved = s.next === 0 ? s.reserved : undefined
      const node = s.ranking[s.next++] as NodeId
      if (node === this.book.members.selfId) {
        this.host.persist(s.record, out)
        if (reserved !== undefined) this.host.reserved(s.record.id, reserved, now)
        s.acks.add(node)
      } else {
        s.inflight++
        const msg = reserved === undefined ? { type: 'store-job' as const, job: s.record } : { type: 'store-job' as const, job: s.record, reserved }
        this.book.send(out, node, msg, this.book.config.storeTimeoutMs, { purpose: 'store', reqId: s.reqId, node })
      }
    }
    if (s.acks.size >= s.need && s.need > 0) {
      this.submits.delete(s.reqId)
      this.book.stats.submitted++
      // The replicas hold exactly this record already (they just acknowledged it): only gossip it.
      this.book.merge(s.record, now, out, true, false)
      out.push({ kind: 'api-reply', reqId: s.reqId, reply: { status: 201, body: { id: s.record.id } } })
    } else if (s.inflight === 0) {
      this.submits.delete(s.reqId)
      out.push({ kind: 'api-reply', reqId: s.reqId, reply: { status: 503, body: { error: {
        code: 'unavailable', message: `could store the job on ${s.acks.size} of ${s.need} nodes; nothing was acknowledged`,
      } } } })
    }
  }
}
