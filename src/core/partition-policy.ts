// What a partition does to a job's runs, as pure functions of its record (the job's `disconnect`
// policy, job-types.ts). Every node computes the same answers from the same record, so when two
// sides of a healed partition each ran an instance, both runners agree on which run stays without
// a message: the other stops its own copy and records it under `duplicates` (runner.ts).
import { keyedScorer } from '../placement/index.js'
import { allocKey, isTerminalAlloc } from './job-merge.js'
import { disconnectOf, type Allocation, type JobRecord, type ReconcileMode } from './job-types.js'
import { topFor } from './replica-ranking.js'
import type { Millis, NodeId, NodeRecord } from './types.js'

/**
 * A run nobody can see is left alone this long when the job says `replace: false` (its node may
 * only be cut off), then taken for lost and replaced: Nomad's `lost_after` for such jobs.
 */
export const DISCONNECTED_LOST_AFTER_MS = 5 * 60_000

/**
 * The open runs of `a`'s instance that contend with it: other attempts not ended, except the
 * pair of a drain's move (the replacement names the run it replaces; both run until it runs).
 */
export function rivalsOf(r: JobRecord, a: Allocation): Allocation[] {
  const out: Allocation[] = []
  for (const k in r.allocations) {
    const b = r.allocations[k] as Allocation
    if (b.index !== a.index || b.attempt === a.attempt || isTerminalAlloc(b.state)) continue
    if (b.replaces === a.attempt || a.replaces === b.attempt) continue
    out.push(b)
  }
  return out
}

/**
 * Of two or more runs of one instance, the one the policy keeps:
 * - `longest_running`: the one started first (a claim not started yet comes last);
 * - `keep_original`: the lowest attempt; `keep_replacement`: the highest;
 * - `best_score`: the one on the node that ranks best for the instance (rendezvous score of the
 *   instance's key and the node: the same wherever it is computed).
 * Ties go to the lower attempt, then the lower node id, so every node picks the same run.
 */
export function keptRun(mode: ReconcileMode, jobId: string, runs: readonly Allocation[]): Allocation {
  const score = mode === 'best_score' ? keyedScorer(`${jobId}/${(runs[0] as Allocation).index}`) : undefined
  const better = (a: Allocation, b: Allocation): boolean => {
    switch (mode) {
      case 'longest_running': {
        const sa = a.startedAt ?? Infinity
        const sb = b.startedAt ?? Infinity
        if (sa !== sb) return sa < sb
        break
      }
      case 'keep_original':
        if (a.attempt !== b.attempt) return a.attempt < b.attempt
        break
      case 'keep_replacement':
        if (a.attempt !== b.attempt) return a.attempt > b.attempt
        break
      case 'best_score': {
        const sa = (score as (id: string) => number)(a.nodeId)
        const sb = (score as (id: string) => number)(b.nodeId)
        if (sa !== sb) return sa > sb
        break
      }
    }
    if (a.attempt !== b.attempt) return a.attempt < b.attempt
    return a.nodeId < b.nodeId
  }
  return runs.reduce((best, a) => (better(a, best) ? a : best))
}

/** A run of ours as the policy should weigh it: a claim we are about to start starts now. */
export function asStarted(a: Allocation, now: Millis): Allocation {
  return a.startedAt === null ? { ...a, startedAt: now } : a
}

/**
 * Since when this node is cut off from a job whose policy has a `stopAfterMs` (null: it is not,
 * or the job has no such policy). Cut off: it sees at most half of the nodes that store the job
 * when every member is up (itself counted when it is one; a suspect is not heard from). Of the
 * sides of a partition at most one sees a majority of them, and only that side runs the job: the
 * others place nothing and start nothing, and their runners stop what they run once cut off for
 * `stopAfterMs` (runner.ts), so that a duplicate cannot outlive the bound. Members that left
 * store nothing; dead ones still count (they may be on the other side).
 *
 * Since when: the moment the majority was lost, from when we last heard straight from each
 * storing node we no longer see (Nomad's stop_on_client_after counts from the last heartbeat,
 * not from when the loss was noticed, which a node cut off notices slowly: Lifeguard stretches
 * the probes of a node whose probes fail).
 */
export function cutOffSince(r: JobRecord, self: NodeId, members: readonly NodeRecord[], replicas: number, lastHeard: (id: NodeId) => Millis | undefined): Millis | null {
  if (disconnectOf(r.spec).stopAfterMs === null) return null
  const known: NodeId[] = []
  const alive = new Set<NodeId>([self])
  for (const m of members) {
    if (m.state === 'left') continue
    known.push(m.id)
    if (m.state === 'alive') alive.add(m.id)
  }
  const homes = topFor(r.id, known, replicas)
  const needed = Math.floor(homes.length / 2) + 1
  let seen = 0
  const lost: Millis[] = []
  for (const n of homes) {
    if (alive.has(n)) seen++
    else lost.push(lastHeard(n) ?? -Infinity)
  }
  if (seen >= needed) return null
  // The last of the storing nodes whose loss took the majority away: the (needed - seen)-th most recently heard.
  lost.sort((a, b) => b - a)
  return lost[needed - seen - 1] ?? -Infinity
}

/** What cutOffFor reads of this node's member table (job-book.ts's MemberView has it). */
export interface MemberSource {
  readonly selfId: NodeId
  records(): readonly NodeRecord[]
  lastHeard(id: NodeId): Millis | undefined
}

/**
 * cutOffSince against this node's member table, read only for jobs with a stopAfterMs: most jobs
 * have none, and the arbiter and the runner ask on every pass over a job.
 */
export function cutOffFor(r: JobRecord, members: MemberSource, replicas: number): Millis | null {
  if (disconnectOf(r.spec).stopAfterMs === null) return null
  return cutOffSince(r, members.selfId, members.records(), replicas, (id) => members.lastHeard(id))
}

/**
 * Runs of `self` that `sent` (another node's delta) has as lost while our record, once it is
 * merged, has them running: we re-asserted them (runner.ts). They go back to the sender through
 * `tell`, whatever our view of it: the sender asked because it sees us, but we may still hold it
 * dead (its refutation yet to come) and so leave it out of the nodes our changes go to, and it
 * places the instance again once its wait for our answer (reconcile.ts, REASSERT_WAIT_MS) is over.
 */
export function reasserted(held: JobRecord | undefined, sent: Iterable<Allocation>, self: NodeId, tell: (a: Allocation) => void): void {
  if (held === undefined) return
  for (const a of sent) {
    if (a.nodeId !== self || a.state !== 'lost') continue
    const cur = held.allocations[allocKey(a.index, a.attempt)]
    if (cur !== undefined && cur.nodeId === self && cur.state === 'running' && (cur.epoch ?? 0) > (a.epoch ?? 0)) tell(cur)
  }
}
