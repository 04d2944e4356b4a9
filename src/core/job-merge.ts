// Merging two copies of a job record, and what state a job is in. The merge is a join (idempotent,
// commutative, associative): replicas, gossip and the state exchange may deliver copies in any
// order and any number of times. Allocations merge per (index, attempt) by how far they got.
import { hash64Hex, quickHash64 } from '../placement/hash.js'
import { sameJson } from './records.js'
import type { AllocState, Allocation, DuplicateRun, JobDelta, JobRecord, JobState } from './job-types.js'
import type { Millis } from './types.js'

/**
 * How far an allocation got; a later stage wins. Terminal states rank by how final they are:
 * `lost` is a guess made by others (the node went silent), while `succeeded` and `failed` are
 * what the run itself reported, so they outrank it: a run that finished before its node was
 * declared dead keeps its real outcome, and a success once shown is never taken back. A run its
 * node re-asserts (a higher epoch) outranks the guess (see compareAlloc).
 */
const ALLOC_RANK: Record<AllocState, number> = { claimed: 0, running: 1, lost: 2, succeeded: 3, failed: 4, cancelled: 5 }

export function allocKey(index: number, attempt: number): string {
  return `${index}/${attempt}`
}

export function isTerminalAlloc(state: AllocState): boolean {
  return ALLOC_RANK[state] >= ALLOC_RANK.lost
}

/** What a run itself reported as its end (or a cancel): final, whatever anyone guessed before. */
function isFinal(state: AllocState): boolean {
  return ALLOC_RANK[state] > ALLOC_RANK.lost
}

/** A `lost` its run's own node recorded (it stopped the run: self-fencing, a drain's deadline). */
function isOwnLoss(a: Allocation): boolean {
  return a.state === 'lost' && a.lostBy === a.nodeId
}

/**
 * The order of two versions of one allocation: a final state outranks any other; before that a
 * higher epoch (raised by the run's own node to re-assert a run others took for lost: a
 * partition) outranks a lower; then how far it got; of two losses, the run's own node's account
 * (it saw the run, and says when it started and why it stopped) outranks another node's guess,
 * which may not even know the run had started.
 */
function compareAlloc(a: Allocation, b: Allocation): number {
  const fa = isFinal(a.state)
  if (fa !== isFinal(b.state)) return fa ? 1 : -1
  if (!fa && (a.epoch ?? 0) !== (b.epoch ?? 0)) return (a.epoch ?? 0) - (b.epoch ?? 0)
  const d = ALLOC_RANK[a.state] - ALLOC_RANK[b.state]
  if (d !== 0) return d
  const own = isOwnLoss(a)
  if (own !== isOwnLoss(b)) return own ? 1 : -1
  if (sameJson(a, b)) return 0
  const ka = JSON.stringify(a)
  const kb = JSON.stringify(b)
  return ka === kb ? 0 : ka < kb ? -1 : 1
}

export function mergeAlloc(a: Allocation, b: Allocation): Allocation {
  return compareAlloc(a, b) >= 0 ? a : b
}

/** A record's fields in the order mergeJob builds them; the last two only when set. */
const FIELD_ORDER = ['id', 'spec', 'submittedAt', 'cancelled', 'allocations', 'pendingReason', 'reasonVersion', 'cancelledAt', 'duplicates']
const REQUIRED_FIELDS = 7

/**
 * Whether `r` is laid out as mergeJob builds records (see addsNothing): its fields in that order,
 * none else and none undefined, its allocations and duplicates in key order. Looked at on the
 * record, not remembered: a WeakSet of the records mergeJob built held an entry for every job a
 * node keeps (~52 bytes of each finished job retained, and a table that grows with them).
 */
function isCanonical(r: JobRecord): boolean {
  let i = 0
  for (const k in r) {
    while (FIELD_ORDER[i] !== k) {
      if (i < REQUIRED_FIELDS || i >= FIELD_ORDER.length) return false
      i++
    }
    if ((r as unknown as Record<string, unknown>)[k] === undefined) return false
    i++
  }
  return i >= REQUIRED_FIELDS && keysInOrder(r.allocations) && (r.duplicates === undefined || keysInOrder(r.duplicates))
}

/** Keys enumerate in sorted order, as sortKeys leaves them. */
function keysInOrder(o: object): boolean {
  let prev: string | undefined
  for (const k in o) {
    if (prev !== undefined && !(prev < k)) return false
    prev = k
  }
  return true
}

/** The earlier-submitted copy's spec wins; on a tie, the smaller spec (as JSON text). */
function firstOf(a: JobRecord, b: JobRecord): JobRecord {
  if (a.submittedAt !== b.submittedAt) return a.submittedAt < b.submittedAt ? a : b
  return sameJson(a.spec, b.spec) || JSON.stringify(a.spec) <= JSON.stringify(b.spec) ? a : b
}

/** Merging `b` into `a` would give `a` again, field for field (so mergeJob keeps `a` itself). */
function addsNothing(a: JobRecord, b: JobRecord): boolean {
  if ((b.cancelled && !a.cancelled) || b.duplicates !== undefined) return false
  if (b.cancelledAt !== undefined && (a.cancelledAt === undefined || b.cancelledAt < a.cancelledAt)) return false
  if (a.reasonVersion < b.reasonVersion || (a.reasonVersion === b.reasonVersion && a.pendingReason < b.pendingReason)) return false
  for (const k in b.allocations) {
    const cur = a.allocations[k]
    if (cur === undefined || compareAlloc(cur, b.allocations[k] as Allocation) < 0) return false
  }
  return firstOf(a, b) === a && isCanonical(a)
}

export function mergeJob(a: JobRecord, b: JobRecord): JobRecord {
  // Most copies a node hears add nothing to what it has: keep its record (the same object).
  if (addsNothing(a, b)) return a
  const allocations: Record<string, Allocation> = { ...a.allocations }
  for (const [k, v] of Object.entries(b.allocations)) {
    const cur = allocations[k]
    allocations[k] = cur === undefined ? v : mergeAlloc(cur, v)
  }
  // The spec never changes after submit; two submits with one idempotency key may differ only in
  // submittedAt (and in theory the spec): the earliest submit wins, deterministically.
  const first = firstOf(a, b)
  const reason = a.reasonVersion !== b.reasonVersion
    ? (a.reasonVersion > b.reasonVersion ? a : b)
    : (a.pendingReason >= b.pendingReason ? a : b)
  const merged: JobRecord = {
    id: a.id,
    spec: first.spec,
    submittedAt: first.submittedAt,
    cancelled: a.cancelled || b.cancelled,
    allocations: sortKeys(allocations),
    pendingReason: reason.pendingReason,
    reasonVersion: reason.reasonVersion,
  }
  // The earliest cancel wins; absent, not undefined, when neither copy was cancelled with a time.
  const cancelledAt = earliest(a.cancelledAt, b.cancelledAt)
  if (cancelledAt !== undefined) merged.cancelledAt = cancelledAt
  // Absent, not empty, when neither copy has any: records without duplicates keep their old shape.
  if (a.duplicates !== undefined || b.duplicates !== undefined) {
    const dups: Record<string, DuplicateRun> = { ...a.duplicates }
    for (const [k, v] of Object.entries(b.duplicates ?? {})) {
      const cur = dups[k]
      // One node writes each entry once; should two differ, the earlier stop wins, deterministically.
      dups[k] = cur === undefined ? v : (cur.stoppedAt !== v.stoppedAt ? (cur.stoppedAt < v.stoppedAt ? cur : v) : (JSON.stringify(cur) <= JSON.stringify(v) ? cur : v))
    }
    merged.duplicates = sortKeys(dups)
  }
  return merged
}

function earliest(a: Millis | undefined, b: Millis | undefined): Millis | undefined {
  if (a === undefined) return b
  if (b === undefined) return a
  return Math.min(a, b)
}

/**
 * `r` with a delta merged in, by the same lattice as mergeJob: the delta is a partial record of
 * the same job (the spec and submit time of `r`, only the facts it carries).
 */
export function applyDelta(r: JobRecord, d: JobDelta): JobRecord {
  const allocations: Record<string, Allocation> = {}
  for (const a of d.allocs ?? []) allocations[allocKey(a.index, a.attempt)] = a
  const partial: JobRecord = {
    id: r.id, spec: r.spec, submittedAt: r.submittedAt,
    cancelled: d.cancelledAt !== undefined,
    allocations,
    pendingReason: d.reason?.text ?? '',
    reasonVersion: d.reason?.version ?? 0,
  }
  if (d.cancelledAt !== undefined) partial.cancelledAt = d.cancelledAt
  if (d.duplicates !== undefined && d.duplicates.length > 0) {
    partial.duplicates = {}
    for (const dup of d.duplicates) partial.duplicates[duplicateKey(dup.index, dup.attempt, dup.nodeId)] = dup
  }
  return mergeJob(r, partial)
}

/** Whether applying `d` to `r` would change nothing (most deltas a node gets twice). */
export function deltaAddsNothing(r: JobRecord, d: JobDelta): boolean {
  if (d.cancelledAt !== undefined && (!r.cancelled || r.cancelledAt === undefined || d.cancelledAt < r.cancelledAt)) return false
  if (d.reason !== undefined && (d.reason.version > r.reasonVersion || (d.reason.version === r.reasonVersion && d.reason.text > r.pendingReason))) return false
  for (const a of d.allocs ?? []) {
    const cur = r.allocations[allocKey(a.index, a.attempt)]
    if (cur === undefined || compareAlloc(cur, a) < 0) return false
  }
  for (const dup of d.duplicates ?? []) if (r.duplicates?.[duplicateKey(dup.index, dup.attempt, dup.nodeId)] === undefined) return false
  return true
}

/**
 * When a job ended (it can be collected a retention window later), or null while it has not:
 * a batch job that succeeded or failed, or a cancelled job whose every run stopped. Its last
 * run's end, or the cancel when later (or when nothing ever ran). Services end only by a cancel.
 */
export function jobEndedAt(r: JobRecord): Millis | null {
  const state = jobState(r)
  if (state !== 'succeeded' && state !== 'failed' && state !== 'cancelled') return null
  let at = r.cancelledAt ?? (state === 'cancelled' ? r.submittedAt : -Infinity)
  for (const k in r.allocations) {
    const a = r.allocations[k] as Allocation
    if (!isTerminalAlloc(a.state)) return null
    if (a.finishedAt !== null && a.finishedAt > at) at = a.finishedAt
  }
  return at === -Infinity ? r.submittedAt : at
}

export function duplicateKey(index: number, attempt: number, nodeId: string): string {
  return `${index}/${attempt}@${nodeId}`
}

function sortKeys<T>(o: Record<string, T>): Record<string, T> {
  const out: Record<string, T> = {}
  for (const k of Object.keys(o).sort()) out[k] = o[k] as T
  return out
}

/** A short digest of a record's content: equal records, equal digests (for the state exchange). */
export function jobDigest(r: JobRecord): string {
  return hash64Hex(quickHash64(JSON.stringify(r)))
}

/** The newest attempt of each instance. */
export function latestAllocations(r: JobRecord): Map<number, Allocation> {
  const latest = new Map<number, Allocation>()
  for (const a of Object.values(r.allocations)) {
    const cur = latest.get(a.index)
    if (cur === undefined || a.attempt > cur.attempt) latest.set(a.index, a)
  }
  return latest
}

/**
 * A batch instance one of whose runs succeeded: it is done, whatever later runs were placed.
 * (A run taken for lost can still report success: its node was only silent.)
 */
export function batchInstanceDone(r: JobRecord, index: number): boolean {
  if (r.spec.type !== 'batch') return false
  for (const k in r.allocations) {
    const a = r.allocations[k] as Allocation
    if (a.index === index && a.state === 'succeeded') return true
  }
  return false
}

/**
 * Runs of an instance that failed on their own. Lost runs (their node died) and cancelled ones
 * do not count: losing a node must not use up a job's restarts.
 */
export function failedRuns(r: JobRecord, index: number): number {
  let n = 0
  for (const a of Object.values(r.allocations)) if (a.index === index && a.state === 'failed') n++
  return n
}

/** Runs an instance may fail in all: the first plus `restart.attempts` retries. */
export function maxAttempts(r: JobRecord): number {
  return 1 + r.spec.restart.attempts
}

/**
 * The job's state, derived from its allocations: never stored, so it cannot disagree with them.
 * Batch: succeeded when every instance has succeeded; failed when one failed its last attempt.
 * Service: never completes; running while any instance runs.
 */
export function jobState(r: JobRecord): JobState {
  if (r.cancelled) return 'cancelled'
  if (r.spec.type === 'batch') {
    let succeeded = 0
    for (let i = 0; i < r.spec.count; i++) {
      const all = Object.values(r.allocations).filter((a) => a.index === i)
      if (all.some((a) => a.state === 'succeeded')) { succeeded++; continue }
      if (failedRuns(r, i) >= maxAttempts(r)) return 'failed'
    }
    if (succeeded === r.spec.count) return 'succeeded'
  }
  // Any open run counts, not only the newest attempt: while a drain moves an instance, the old
  // run goes on until its replacement runs, even if that replacement failed.
  for (const a of Object.values(r.allocations)) if (a.state === 'running' || a.state === 'claimed') return 'running'
  return 'pending'
}

export function isTerminalJob(r: JobRecord): boolean {
  return isEndedJobState(jobState(r))
}

/** Whether a job in this state (a record's, or an event's) has ended for good. */
export function isEndedJobState(s: string): boolean {
  return s === 'succeeded' || s === 'failed' || s === 'cancelled'
}
