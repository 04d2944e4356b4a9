// Admission: has this cell room for a job, before it is stored here? A job lives in the cell of
// its id's hash (cells.ts), so a full cell used to keep a job pending while other cells had room
// (the first cell to fill turned jobs away with the cluster two-thirds as full as best fit would
// make it). A submit without an idempotency key may take another id, and so another cell: the
// node taking it (cell-router.ts) asks the id's cell to admit it first, and on a refusal tries
// the next id's cell. Nothing is stored before the cell admits the job, so a refusal leaves
// nothing behind.
//
// The cell admits a job when it finds room for all its instances: on its members' announced free
// capacity while that is gossiped (a local check, no messages), else by asking (as the arbiter
// does, capacity-sample.ts): a sample of 8 nodes that admit the job by their totals, labels and
// drain flag, doubling until room is found or every one of them was asked (a cell whose last full
// scan found no room refuses from that for 10 s; the member that scanned tells the others, so a
// full cell is scanned about once per 10 s instead of once by every member asked). Answers even
// half a second old admitted jobs into full cells while a cell filled, so none are reused.
// Where the answers have room, the best of those nodes is offered the job's first instance (its
// first attempt, as the arbiter would offer it) and reserves it: admitted jobs no longer lost the
// last room of a filling cell to a job admitted a moment later. The arbiter gets that node with
// the job (the `reserved` of its store message) and offers it the same attempt, which the node's
// reservation accepts.
import { rankNodes, RESOURCE_EPSILON, type PlacementJob } from '../placement/index.js'
import { drawNodes, type CapacitySampler } from './capacity-sample.js'
import type { JobBook } from './job-book.js'
import type { toNodeView } from './job-status.js'
import type { Effect, Millis, NodeId, Resources, RpcResponse } from './types.js'

type NodeView = ReturnType<typeof toNodeView>

export interface AdmitJob extends PlacementJob {
  count: number
  /** Rank as placement does for this job (the arbiter's `sample`: best fit for batch jobs). */
  sample: number
  /** Refuse it also when the cell is crowded (less than SPARE of its capacity free). */
  spare: boolean
}

/**
 * The cell's answer, in the step that decides it: admitted (with the node that reserved the first
 * instance, where capacity is asked for), or null and why not.
 */
export type Verdict = (admitted: { reserved?: NodeId } | null, reason: string, now: Millis, out: Effect[]) => void

interface Check {
  job: AdmitJob
  feasible: NodeView[]
  asked: Set<NodeId>
  answers: Map<NodeId, Resources>
  /** Instances the answers so far have room for. */
  fits: number
  /** Nodes that turned the first instance down. */
  refused: Set<NodeId>
  /** The first instance's offer is out. */
  offering: boolean
  waiting: number
  width: number
  round: number
  startedAt: Millis
  done: Verdict
}

const FIRST_WIDTH = 8
/** A cell with less than this share of its cpu or memory free is crowded (see AdmitJob.spare). */
export const SPARE = 0.1

/** The smaller share of cpu and memory free over `nodes` (by `free` of each). */
function spareShare(nodes: readonly NodeView[], free: (v: NodeView) => Resources): number {
  let cpu = 0, mem = 0, totalCpu = 0, totalMem = 0
  for (const v of nodes) {
    const f = free(v)
    cpu += Math.max(0, f.cpu)
    mem += Math.max(0, f.memoryMb)
    totalCpu += v.total.cpu
    totalMem += v.total.memoryMb
  }
  return Math.min(totalCpu > 0 ? cpu / totalCpu : 1, totalMem > 0 ? mem / totalMem : 1)
}
const NONE: Resources = { cpu: 0, memoryMb: 0 }

/** How many instances of `need` fit in `free` (at most `cap`). */
export function instancesIn(free: Resources, need: Resources, cap: number): number {
  const cpu = need.cpu <= 0 ? cap : Math.floor((free.cpu + RESOURCE_EPSILON) / need.cpu)
  const mem = need.memoryMb <= 0 ? cap : Math.floor((free.memoryMb + RESOURCE_EPSILON) / need.memoryMb)
  return Math.max(0, Math.min(cap, cpu, mem))
}

export class Admission {
  private readonly checks = new Map<number, Check>()
  private nextCheck = 1
  /**
   * Per job size, what the full-scan memory said (null: room; else why not), while the memory and
   * the feasible nodes are unchanged: a full cell is asked about many jobs of few sizes.
   */
  private readonly byMemory = new Map<string, { version: number; feasible: readonly NodeView[]; refusal: string | null }>()

  constructor(
    private readonly book: JobBook,
    private readonly views: () => NodeView[],
    private readonly sampler: CapacitySampler,
  ) {}

  check(job: AdmitJob, now: Millis, out: Effect[], done: Verdict): void {
    const views = this.views()
    const feasible = this.sampler.fitting(job, views)
    if (feasible.length === 0) {
      // No node of this cell could ever take it (totals, labels, drain): the static reason.
      done(null, 'no node of this cell can run it (cpu, memory, labels or drain)', now, out)
      return
    }
    if (!this.book.sampling()) {
      let fits = 0
      for (const v of feasible) fits += instancesIn(v.free, job.resources, job.count)
      const share = job.spare ? spareShare(feasible, (v) => v.free) : 1
      if (fits < job.count) done(null, noRoom(job, fits, feasible.length, 'announced'), now, out)
      else if (share < SPARE) done(null, crowded(share), now, out)
      else done({}, '', now, out)
      return
    }
    // The last full scan found no room (and later answers and our offers did not change that): none now.
    const refusal = job.constraints.length === 0 ? this.refusalByMemory(job, feasible, now) : null
    if (refusal !== null) {
      done(null, refusal, now, out)
      return
    }
    const id = this.nextCheck++
    const c: Check = { job, feasible, asked: new Set(), answers: new Map(), fits: 0, refused: new Set(), offering: false, waiting: 0, width: FIRST_WIDTH, round: 0, startedAt: now, done }
    this.checks.set(id, c)
    this.ask(id, c, now, out)
  }

  /** An answer to one of our capacity asks (`offer` false) or to the first instance's offer. */
  onAnswer(id: number, node: NodeId, offer: boolean, msg: RpcResponse | null, now: Millis, out: Effect[]): void {
    const c = this.checks.get(id)
    if (c === undefined) return
    c.waiting--
    if (offer) {
      c.offering = false
      const free = c.answers.get(node) ?? NONE
      if (msg?.type === 'accept') {
        this.checks.delete(id)
        c.done({ reserved: node }, '', now, out)
        return
      }
      // Taken meanwhile (or no answer): that node has no room for it.
      c.refused.add(node)
      c.fits -= instancesIn(free, c.job.resources, c.job.count)
      c.answers.set(node, NONE)
    } else if (msg !== null && msg.type === 'capacity') {
      this.sampler.heard(node, msg.free, now)
      c.answers.set(node, msg.free)
      c.fits += instancesIn(msg.free, c.job.resources, c.job.count)
    }
    this.next(id, c, now, out)
  }

  private refusalByMemory(job: AdmitJob, feasible: NodeView[], now: Millis): string | null {
    const memory = this.sampler.remembered(feasible, now)
    if (memory === null) return null
    const shape = `${job.resources.cpu}/${job.resources.memoryMb}/${job.count}`
    const known = this.byMemory.get(shape)
    if (known !== undefined && known.version === memory.version && known.feasible === feasible) return known.refusal
    let fits = 0
    for (const v of feasible) if ((fits += instancesIn(memory.free.get(v.id) ?? NONE, job.resources, job.count)) >= job.count) break
    const refusal = fits >= job.count ? null : noRoom(job, fits, feasible.length, 'remembered from a full scan')
    if (this.byMemory.size >= 256) this.byMemory.clear()
    this.byMemory.set(shape, { version: memory.version, feasible, refusal })
    return refusal
  }

  /** Checks under way (tests: none once every submit was answered). */
  held(): number {
    return this.checks.size
  }

  /** Room in the answers: offer the best node the first instance. Else ask more nodes, or refuse. */
  private next(id: number, c: Check, now: Millis, out: Effect[]): void {
    if (c.offering) return
    if (c.job.spare && c.round === 1) {
      // Choosy: the whole first sample decides whether the cell has room to spare.
      if (c.waiting > 0) return
      const answered = c.feasible.filter((v) => c.answers.has(v.id))
      const share = spareShare(answered, (v) => c.answers.get(v.id) as Resources)
      if (share < SPARE) {
        this.checks.delete(id)
        c.done(null, crowded(share), now, out)
        return
      }
      c.job = { ...c.job, spare: false }
    }
    if (c.fits >= c.job.count) {
      const pool = c.feasible.filter((v) => c.answers.has(v.id) && !c.refused.has(v.id)).map((v) => ({ ...v, free: c.answers.get(v.id) as Resources }))
      const best = rankNodes(c.job, `${c.job.id}/0/1`, pool, { sample: c.job.sample }).candidates[0]
      if (best !== undefined) {
        c.waiting++
        c.offering = true
        this.book.send(out, best.nodeId, { type: 'offer', jobId: c.job.id, index: 0, attempt: 1, resources: c.job.resources }, this.book.config.offerTimeoutMs,
          { purpose: 'admit', check: id, node: best.nodeId, offer: true })
        return
      }
    }
    // Answers still coming may have room.
    if (c.waiting > 0) return
    this.checks.delete(id)
    // Rounds slowed by nodes that do not answer end here: the submit must not outlive its forward.
    if (now - c.startedAt >= 2 * this.book.config.offerTimeoutMs) {
      c.done(null, `no room found among ${c.answers.size} of ${c.feasible.length} nodes that answered within ${now - c.startedAt} ms`, now, out)
      return
    }
    if (c.asked.size >= c.feasible.length) {
      if (c.job.constraints.length === 0) this.sampler.scanned(new Map(c.answers), now, out)
      c.done(null, noRoom(c.job, c.fits, c.feasible.length, 'asked'), now, out)
      return
    }
    this.checks.set(id, c)
    if (c.round > 0) c.width *= 2
    this.ask(id, c, now, out)
  }

  /** The next `width` feasible nodes not asked yet, a seeded uniform draw per round. */
  private ask(id: number, c: Check, now: Millis, out: Effect[]): void {
    const left = c.feasible.filter((v) => !c.asked.has(v.id))
    for (const node of drawNodes(`${c.job.id}#admit#${c.round++}`, left, c.width)) {
      c.asked.add(node)
      c.waiting++
      this.book.stats.capacityAsks++
      this.book.send(out, node, { type: 'capacity' }, this.book.config.offerTimeoutMs, { purpose: 'admit', check: id, node, offer: false })
    }
  }
}

function crowded(share: number): string {
  return `the cell is crowded: ${Math.round(share * 1000) / 10}% of its capacity is free (it takes jobs another cell could take above ${SPARE * 100}%)`
}

/** A refusal's reason (only the router reads it: the job goes to another cell, or waits with the arbiter's own reason). */
function noRoom(job: AdmitJob, fits: number, nodes: number, how: string): string {
  return `room for ${fits} of ${job.count} instance(s) of ${job.resources.cpu} cpu, ${job.resources.memoryMb} MB on the cell's ${nodes} nodes that could run it (${how})`
}
