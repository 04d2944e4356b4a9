// The job table: every job record this node holds, and the one place that changes them. Each way
// a record can change is a named operation, because each has its own rule for the disk and for
// events:
//
// - `receive` a whole copy from elsewhere (a start, a read, the state exchange): merged; written
//   when we keep the job on disk (we store it, or wrote it before);
// - `keep` a copy we are asked to store (a submit, replica repair): merged and written, changed
//   or not, since the answer that follows promises it is on disk;
// - `apply` a delta from elsewhere: merged like `receive`; refused when we lack the job (the
//   sender then sends the whole record);
// - `author` our own change: merged, and written when kept. Where it must go next is the caller's business (jobs.ts sends it to the job's holders, the
//   grants and the runner's reports send theirs themselves);
// - `collect` a job past its retention (retention.ts).
//
// Records merge by the lattice of job-merge.ts, so the order of operations never matters.
import { applyDelta, deltaAddsNothing, isTerminalAlloc, jobDigest, jobState, mergeJob } from './job-merge.js'
import type { JobDelta, JobRecord } from './job-types.js'
import { sameJson } from './records.js'
import { internSpec } from './spec-intern.js'
import type { Effect, Millis, NodeId } from './types.js'

/** What the table tells the rest of the job machine. */
export interface TableHooks {
  /** Is this node one of the job's storing nodes now? */
  stores(jobId: string): boolean
  /** A record was set (new or changed): indexes follow it. `active`: still to be decided. */
  set(r: JobRecord, active: boolean): void
  /**
   * A record changed: the runner fences, the arbiter looks again, and the change's events are
   * told (`by`: this node authored the change, or it came from elsewhere).
   */
  changed(prev: JobRecord | undefined, next: JobRecord, by: ChangeSource, now: Millis, out: Effect[]): void
  /** A job was collected: whatever is kept per job goes. */
  collected(id: string): void
  /** Whether a copy of this job must not be taken in (it was collected, or is past its retention). */
  refuses(r: JobRecord, now: Millis): boolean
}

/** Who made a change: this node (`ours`), or another node whose copy or delta it was (`theirs`). */
export type ChangeSource = 'ours' | 'theirs'

/** Where a job lives on disk. */
export function jobKey(id: string): string {
  return `job/${id}`
}

export class JobTable {
  private readonly jobs = new Map<string, JobRecord>()
  /**
   * Jobs we hold but did not write (a copy read from elsewhere, a run's copy): every other job
   * held is on our disk (we store it, or were asked to). Kept this way round because most jobs a
   * node holds, ended ones for their retention window, are ones it stores: a set of those cost
   * ~33 bytes per retained job, and this one is empty on a node that stores all it holds.
   */
  private readonly unwritten = new Set<string>()
  /** Digest of each job as we hold it (computed when the state exchange asks, kept until it changes). */
  private readonly digests = new Map<string, string>()
  /** Jobs still to be decided: pending or running, or cancelled with runs still open. */
  readonly active = new Set<string>()

  constructor(private readonly hooks: TableHooks) {}

  get(id: string): JobRecord | undefined {
    return this.jobs.get(id)
  }

  /** Every record held, in the order first set. */
  all(): ReadonlyMap<string, JobRecord> {
    return this.jobs
  }

  get size(): number {
    return this.jobs.size
  }

  isPersisted(id: string): boolean {
    return this.jobs.has(id) && !this.unwritten.has(id)
  }

  /** The digest of our copy, for the state exchange. */
  digestOf(id: string): string | undefined {
    let d = this.digests.get(id)
    if (d === undefined) {
      const r = this.jobs.get(id)
      if (r === undefined) return undefined
      d = jobDigest(r)
      this.digests.set(id, d)
    }
    return d
  }

  /** Records from our disk at start-up: held and known to be written. */
  load(r: JobRecord): void {
    this.setRecord(shareSpec(r))
    this.unwritten.delete(r.id)
  }

  /** A whole copy from elsewhere. Returns our record after it. */
  receive(incoming: JobRecord, now: Millis, out: Effect[]): JobRecord {
    const cur = this.jobs.get(incoming.id)
    if (cur === undefined && this.hooks.refuses(incoming, now)) return incoming
    const next = cur === undefined ? incoming : mergeJob(cur, incoming)
    if (cur !== undefined && (next === cur || sameJson(cur, next))) return cur
    return this.change(cur, next, 'theirs', now, out)
  }

  /** A copy we must keep on disk: written even when it adds nothing to what we hold in memory. */
  keep(incoming: JobRecord, now: Millis, out: Effect[]): JobRecord {
    const next = this.receive(incoming, now, out)
    if (this.unwritten.has(next.id)) this.write(next, out)
    return next
  }

  /** A delta from elsewhere. False when we lack the job: its sender must send the record. */
  apply(d: JobDelta, now: Millis, out: Effect[]): boolean {
    const cur = this.jobs.get(d.id)
    if (cur === undefined) return false
    if (deltaAddsNothing(cur, d)) return true
    this.change(cur, applyDelta(cur, d), 'theirs', now, out)
    return true
  }

  /** Our own change. Returns the record after it, or undefined when we lack the job. */
  author(d: JobDelta, now: Millis, out: Effect[]): JobRecord | undefined {
    const cur = this.jobs.get(d.id)
    if (cur === undefined) return undefined
    if (deltaAddsNothing(cur, d)) return cur
    return this.change(cur, applyDelta(cur, d), 'ours', now, out)
  }

  /** A new job this node took (a submit): held (written if we store it). */
  create(r: JobRecord, now: Millis, out: Effect[]): void {
    if (this.jobs.has(r.id)) return
    this.change(undefined, r, 'ours', now, out)
  }

  /** Write a job we hold, unless it is on our disk already (we became one of its storing nodes). */
  persist(id: string, out: Effect[]): void {
    const r = this.jobs.get(id)
    if (r !== undefined && this.unwritten.has(id)) this.write(r, out)
  }

  /** Drop a job everywhere on this node: memory, indexes and disk. */
  collect(id: string, out: Effect[]): void {
    if (!this.jobs.delete(id)) return
    this.digests.delete(id)
    this.active.delete(id)
    if (!this.unwritten.delete(id)) out.push({ kind: 'unpersist', key: jobKey(id) })
    this.hooks.collected(id)
  }

  /** Returns the record as held (its spec the shared copy). */
  private change(cur: JobRecord | undefined, changed: JobRecord, by: ChangeSource, now: Millis, out: Effect[]): JobRecord {
    const next = shareSpec(changed)
    if (cur === undefined) this.unwritten.add(next.id)
    this.setRecord(next)
    if (!this.unwritten.has(next.id) || this.hooks.stores(next.id)) this.write(next, out)
    this.hooks.changed(cur, next, by, now, out)
    return next
  }

  private write(r: JobRecord, out: Effect[]): void {
    this.unwritten.delete(r.id)
    out.push({ kind: 'persist', key: jobKey(r.id), value: r })
  }

  private setRecord(r: JobRecord): void {
    this.jobs.set(r.id, r)
    this.digests.delete(r.id)
    const state = jobState(r)
    let active = state === 'pending' || state === 'running'
    if (!active && r.cancelled) for (const k in r.allocations) if (!isTerminalAlloc((r.allocations[k] as JobRecord['allocations'][string]).state)) { active = true; break }
    if (active) this.active.add(r.id)
    else this.active.delete(r.id)
    this.hooks.set(r, active)
  }
}

/**
 * `r` with the shared copy of its spec (spec-intern.ts). A copy, not a change in place: the record
 * may be a message's, which a receiver must not change (the simulator freezes them to check).
 * Merges keep the held record's spec, so this copies a record only when a job is first held.
 */
function shareSpec(r: JobRecord): JobRecord {
  const spec = internSpec(r.spec)
  return spec === r.spec ? r : { ...r, spec }
}

/** Who other than us must hear of a change to `r`: its storing nodes and the nodes running it. */
export function holdersOf(r: JobRecord, storing: readonly NodeId[], self: NodeId): NodeId[] {
  const to: NodeId[] = []
  for (const n of storing) if (n !== self) to.push(n)
  for (const k in r.allocations) {
    const a = r.allocations[k] as JobRecord['allocations'][string]
    if (!isTerminalAlloc(a.state) && a.nodeId !== self && !to.includes(a.nodeId)) to.push(a.nodeId)
  }
  return to
}
