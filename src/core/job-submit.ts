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
// cell has room for it (admission.ts); else 409 `no_room` and nothing is stored. A refusal for
// lack of room stands here for a second for jobs at least as large (REFUSAL_STANDS_MS).
import { checkAdmission } from './admission.js'
import { ASK_AGAIN_MS } from './capacity-view.js'
import type { JobBook } from './job-book.js'
import type { Grants } from './job-grants.js'
import type { AdmitMode, JobRecord, JobSpec } from './job-types.js'
import type { Effect, Millis, NodeId, Resources } from './types.js'
import { rankNodes } from '../placement/index.js'
import type { toNodeView } from './job-status.js'

/** The error code of a refused admission: the router tries another cell. */
export const NO_ROOM = 'no_room'

/** A submit waiting for the answers of nodes its admission asked (admission.ts). */
interface Admitting {
  id: string
  spec: JobSpec
  admit: AdmitMode
  /** Answers still to come. */
  waiting: number
  /** Rounds of asks so far (bounded by ADMIT_ROUNDS). */
  rounds: number
  /** Nodes that answered this admission: only their figures count as room (see admission.ts). */
  answered: Set<NodeId>
  /** Nodes that would not hold room for its first instance (their room went meanwhile). */
  refused: Set<NodeId>
}

/** Rounds of capacity asks an admission makes at most before it decides on what it knows. */
const ADMIT_ROUNDS = 3

/**
 * How long this cell's refusal of a job for lack of room stands, here, for unconstrained jobs at
 * least as large (as many instances, as much cpu and memory): the refusal came after asking the
 * cell's nodes whose figures were old, and a node is not asked again sooner than this
 * (capacity-view.ts). Without it every admission into a full cell asked its nodes again, up to
 * 8 + 16 + 32 of them: in the simulator's packing fill, most of its messages once the cells filled.
 */
const REFUSAL_STANDS_MS = ASK_AGAIN_MS
/** Refused job shapes remembered (only those no other one covers). */
const REFUSALS_KEPT = 8

/** A refusal for lack of room: the shape refused and why. */
interface NoRoom {
  at: Millis
  count: number
  resources: Resources
  reason: string
}

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
  /** The node holding room for the first instance (told to the arbiter with its copy). */
  reserved: NodeId | undefined
}

/** What taking a submit needs of the jobs machine besides the book. */
export interface SubmitHost {
  /** Whether this job id was collected lately (a resubmit with its idempotency key creates nothing). */
  collected(jobId: string, now: Millis): boolean
  liveNodes(): number
  /** Every live node, ranked for the job (its storing nodes first). */
  ranking(jobId: string): NodeId[]
  /** Hold a new job (written if we store it); its arbiter (if that is us) places it now. */
  create(r: JobRecord, now: Millis, out: Effect[]): void
  /** Write a job we hold to our disk (we are one of the nodes it is stored on). */
  persist(jobId: string, out: Effect[]): void
  /** The member views admission ranks (capacity as this node knows it). */
  views(): ReturnType<typeof toNodeView>[]
  /** Hold room here for an admitted job's first instance (Runner.hold). */
  hold(jobId: string, need: Resources, now: Millis): boolean
  /** A node holds room for a job's first instance: its arbiter places that instance there first. */
  reserved(jobId: string, node: NodeId): void
}

export class Submits {
  private readonly coordinating = new Map<string, Coordination>()
  /** Submits sent to their arbiter: the job to store ourselves if it does not answer. */
  private readonly forwarded = new Map<number, { record: JobRecord; reserved: NodeId | undefined }>()
  /** Submits whose admission waits for capacity answers, by API request. */
  private readonly admitting = new Map<number, Admitting>()
  /** This cell's recent refusals for lack of room (see REFUSAL_STANDS_MS). */
  private noRoom: NoRoom[] = []

  constructor(private readonly book: JobBook, private readonly grants: Grants, private readonly host: SubmitHost) {}

  /** An API submit on this node. */
  submit(reqId: number, id: string, spec: JobSpec, admit: AdmitMode | undefined, now: Millis, out: Effect[]): void {
    if ((this.book.get(id) !== undefined && !this.coordinating.has(id)) || this.host.collected(id, now)) {
      // Idempotency: the same key gives the same id, on any node; nothing new is created.
      out.push({ kind: 'api-reply', reqId, reply: { status: 201, body: { id } } })
      return
    }
    if (admit !== undefined) {
      const lately = this.refusedLately(spec, now)
      if (lately !== undefined) {
        out.push({ kind: 'api-reply', reqId, reply: { status: 409, body: { error: { code: NO_ROOM, message: `${lately.reason} (${now - lately.at} ms ago)` } } } })
        return
      }
      this.admitting.set(reqId, { id, spec, admit, waiting: 0, rounds: 0, answered: new Set(), refused: new Set() })
      this.checkAdmit(reqId, now, out)
      return
    }
    this.accept(reqId, id, spec, now, out, undefined)
  }

  /** A capacity answer (or failure) for an admission: once the round is in, it is decided again. */
  admitAnswered(reqId: number, node: NodeId, ok: boolean, now: Millis, out: Effect[]): void {
    const a = this.admitting.get(reqId)
    if (a === undefined) return
    if (ok) a.answered.add(node)
    if (--a.waiting > 0) return
    this.checkAdmit(reqId, now, out)
  }

  /** Decide an admission on what this node knows now, or ask the nodes it has not heard from. */
  private checkAdmit(reqId: number, now: Millis, out: Effect[]): void {
    const a = this.admitting.get(reqId) as Admitting
    const job = { id: a.id, resources: a.spec.resources, constraints: a.spec.constraints, count: a.spec.count, sample: a.spec.type === 'batch' ? this.book.config.placementSample : 0, spare: a.admit === 'spare' }
    const self = this.book.members.selfId
    // Recent figures count (a node then holds the room, or says it has none any more); once a
    // hold was refused, recent was not recent enough (a cell filling fast): only answers count.
    const trust = a.refused.size === 0
    // Asked of every node of the cell, twice per admission: empty sets (the usual case) are not probed (trust: none refused).
    const fresh = (n: NodeId): boolean => (n === self || (a.answered.size > 0 && a.answered.has(n)) || (trust && this.book.capacity.trusted(n, now))) && (trust || !a.refused.has(n))
    const width = a.rounds >= ADMIT_ROUNDS ? 0 : this.book.config.placementSample * 2 ** a.rounds
    const verdict = checkAdmission(job, this.host.views(), fresh, width)
    if (verdict.verdict === 'ask') {
      a.rounds++
      a.waiting = verdict.nodes.length
      for (const node of verdict.nodes) {
        this.book.stats.capacityAsks++
        this.book.send(out, node, { type: 'capacity' }, this.book.config.readTimeoutMs, { purpose: 'capacity', node, admit: reqId })
      }
      return
    }
    if (verdict.verdict === 'refuse') {
      this.admitting.delete(reqId)
      if (verdict.why === 'no-room' && a.spec.constraints.length === 0) this.noteNoRoom({ at: now, count: a.spec.count, resources: a.spec.resources, reason: verdict.reason })
      out.push({ kind: 'api-reply', reqId, reply: { status: 409, body: { error: { code: NO_ROOM, message: verdict.reason } } } })
      return
    }
    // Admitted: the best node that answered with room holds it for the first instance, so that a
    // job admitted a moment later cannot take it (its arbiter then places that instance there).
    const pool = this.host.views().filter((v) => fresh(v.id))
    const best = rankNodes(job, `${a.id}/0/1`, pool, { sample: job.sample }).candidates[0]?.nodeId
    if (best === undefined) {
      this.admitting.delete(reqId)
      this.accept(reqId, a.id, a.spec, now, out, undefined)
    } else if (best === self) {
      if (this.host.hold(a.id, a.spec.resources, now)) { this.admitting.delete(reqId); this.accept(reqId, a.id, a.spec, now, out, self) } else { a.refused.add(self); this.checkAdmit(reqId, now, out) }
    } else {
      a.waiting = 1
      this.book.send(out, best, { type: 'hold', id: a.id, resources: a.spec.resources }, this.book.config.readTimeoutMs, { purpose: 'hold', node: best, admit: reqId })
    }
  }

  /** A refusal for lack of room, made lately, that covers this job (see REFUSAL_STANDS_MS). */
  private refusedLately(spec: JobSpec, now: Millis): NoRoom | undefined {
    if (spec.constraints.length > 0 || this.noRoom.length === 0) return undefined
    return this.noRoom.find((r) => now - r.at <= REFUSAL_STANDS_MS && covers(r, spec))
  }

  private noteNoRoom(r: NoRoom): void {
    const kept = this.noRoom.filter((x) => r.at - x.at <= REFUSAL_STANDS_MS && !covers(r, x))
    kept.push(r)
    this.noRoom = kept.slice(-REFUSALS_KEPT)
  }

  /** A node's answer to holding room for an admitted job's first instance. */
  holdAnswered(reqId: number, node: NodeId, ok: boolean, now: Millis, out: Effect[]): void {
    const a = this.admitting.get(reqId)
    if (a === undefined) return
    if (!ok) { a.refused.add(node); this.checkAdmit(reqId, now, out); return }
    this.admitting.delete(reqId)
    this.accept(reqId, a.id, a.spec, now, out, node)
  }

  /** Store a new job: through its arbiter, or here when we are it. `reserved`: the node holding room for its first instance. */
  private accept(reqId: number, id: string, spec: JobSpec, now: Millis, out: Effect[], reserved: NodeId | undefined): void {
    const record: JobRecord = { id, spec, submittedAt: now, cancelled: false, allocations: {}, pendingReason: '', reasonVersion: 0 }
    const arbiter = this.book.replicaSet(id)[0]
    if (arbiter === undefined || arbiter === this.book.members.selfId) {
      this.coordinate(record, { kind: 'api', reqId }, reserved, now, out)
      return
    }
    this.forwarded.set(reqId, { record, reserved })
    this.book.send(out, arbiter, { type: 'submit-job', job: record, ...(reserved === undefined ? {} : { reserved }) }, this.book.config.storeTimeoutMs, { purpose: 'submit', reqId, node: arbiter })
  }

  /** The arbiter's answer to a submit we sent it. */
  onForwardAnswer(reqId: number, ok: boolean, now: Millis, out: Effect[]): void {
    const f = this.forwarded.get(reqId)
    if (f === undefined) return
    this.forwarded.delete(reqId)
    if (ok) {
      this.book.stats.submitted++
      out.push({ kind: 'api-reply', reqId, reply: { status: 201, body: { id: f.record.id } } })
      return
    }
    // Store it ourselves on the live storing nodes (the arbiter among them, if it answers now).
    this.coordinate(f.record, { kind: 'api', reqId }, f.reserved, now, out)
  }

  /** A node sent us a new job as its arbiter: store it everywhere, then answer that request. */
  onSubmitJob(reqId: number, job: JobRecord, reserved: NodeId | undefined, now: Millis, out: Effect[]): void {
    // A resubmit of a job collected lately (its idempotency key): its id stands, nothing is made.
    if (this.host.collected(job.id, now)) { out.push({ kind: 'reply', reqId, msg: { type: 'ok' } }); return }
    this.coordinate(job, { kind: 'rpc', reqId }, reserved, now, out)
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
    return this.coordinating.size + this.forwarded.size + this.admitting.size
  }

  private coordinate(record: JobRecord, replyTo: ReplyTo, reserved: NodeId | undefined, now: Millis, out: Effect[]): void {
    const under = this.coordinating.get(record.id)
    if (under !== undefined) { under.replyTo.push(replyTo); return }
    if (reserved !== undefined) this.host.reserved(record.id, reserved)
    const first = out.length
    this.host.create(record, now, out)
    const ranking = this.book.replicaSet(record.id)
    const live = this.host.liveNodes()
    const c: Coordination = {
      record, replyTo: [replyTo], ranking, whole: ranking.length >= live, next: 0,
      need: Math.min(this.book.config.replicas, live), acks: new Set(), inflight: new Set(), deferred: new Set(), reserved,
    }
    this.coordinating.set(record.id, c)
    this.fill(c, now, out)
    // The copies leave ahead of this node's own write of the job, so that the storing nodes write
    // while we do instead of after us: the persist barrier holds only the sends that follow a
    // write in a step's effects. The answer still waits for every write (finish marks it
    // afterAllWrites, effect-interpreter.ts), so nothing is acknowledged before it is on
    // min(replicas, live) disks, ours included.
    sendsFirst(out, first, record.id)
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
    const reserved = c.reserved !== undefined && node === c.ranking[0] ? { reserved: c.reserved } : {}
    this.book.send(out, node, { type: 'store-job', job: r, ...reserved }, this.book.config.storeTimeoutMs, { purpose: 'store', jobId: r.id, node, claims })
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
    // After every write made before it: our own copy of the job was written in the step that
    // sent the copies, behind them (coordinate), and may still be under way.
    for (const to of c.replyTo) {
      if (to.kind === 'api') out.push({ kind: 'api-reply', reqId: to.reqId, reply, afterAllWrites: true })
      else out.push({ kind: 'reply', reqId: to.reqId, msg: reply.status === 201 ? { type: 'ok' } : { type: 'error', code: 'unavailable', message: String((reply.body as { error: { message: string } }).error.message) }, afterAllWrites: true })
    }
  }
}

/** Whether a refusal of shape `r` stands for `job`: as many instances or fewer, each as small or smaller. */
function covers(r: { count: number; resources: Resources }, job: { count: number; resources: Resources }): boolean {
  return r.count <= job.count && r.resources.cpu <= job.resources.cpu && r.resources.memoryMb <= job.resources.memoryMb
}

/**
 * Moves the store-job sends of `jobId` among `out[from..]` ahead of the other effects there,
 * each group keeping its order. A stable partition in place of a second effects array: this
 * runs once per submit.
 */
function sendsFirst(out: Effect[], from: number, jobId: string): void {
  const sends: Effect[] = []
  const rest: Effect[] = []
  for (let i = from; i < out.length; i++) {
    const e = out[i] as Effect
    if (e.kind === 'send' && e.msg.type === 'store-job' && e.msg.job.id === jobId) sends.push(e)
    else rest.push(e)
  }
  if (sends.length === 0 || rest.length === 0) return
  out.splice(from, out.length - from, ...sends, ...rest)
}
