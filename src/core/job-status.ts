// Views of job records: the API's JobStatus, the events a change makes, gossip batches, and the
// placement's NodeView of a member record.
import type { NodeView } from '../placement/index.js'
import { jobState } from './job-merge.js'
import type { JobRecord, JobStatus } from './job-types.js'
import type { ClusterEvent, JobEvent, NodeRecord } from './types.js'

const iso = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString())

export function toJobStatus(r: JobRecord): JobStatus {
  const state = jobState(r)
  const allocations = Object.values(r.allocations)
    .sort((a, b) => a.index - b.index || a.attempt - b.attempt)
    .map((a) => ({
      index: a.index, attempt: a.attempt, nodeId: a.nodeId, nodeName: a.nodeName, state: a.state,
      exitCode: a.exitCode, startedAt: iso(a.startedAt), finishedAt: iso(a.finishedAt),
      ...(a.reason === undefined ? {} : { reason: a.reason }),
      ...(a.replaces === undefined ? {} : { replaces: a.replaces }),
    }))
  const duplicates = Object.values(r.duplicates ?? {})
    .sort((a, b) => a.stoppedAt - b.stoppedAt || a.index - b.index || a.attempt - b.attempt)
    .map((d) => ({ index: d.index, attempt: d.attempt, nodeId: d.nodeId, nodeName: d.nodeName, stoppedAt: iso(d.stoppedAt) as string }))
  return {
    id: r.id, name: r.spec.name, type: r.spec.type, state, submittedAt: iso(r.submittedAt) as string, spec: r.spec,
    ...(state === 'pending' && r.pendingReason !== '' ? { pendingReason: r.pendingReason } : {}),
    allocations,
    ...(duplicates.length === 0 ? {} : { duplicates }),
  }
}

export function toNodeView(r: NodeRecord): NodeView {
  return { id: r.id, name: r.name, state: r.state, draining: r.draining, total: r.resources.total, free: r.resources.free, labels: r.labels }
}

/** The allocation id the execution layer uses: safe as a path segment, parseable back. */
export function allocationId(jobId: string, index: number, attempt: number): string {
  return `${jobId}.${index}.${attempt}`
}

/**
 * The user-visible events of one change to a job: one per allocation that moved (each says the
 * job's state too), or, when none did, one for the job's state if it changed.
 */
export function jobChangeEvents(prev: JobRecord | undefined, next: JobRecord): ClusterEvent[] {
  const events: ClusterEvent[] = []
  const state = jobState(next)
  for (const [k, a] of Object.entries(next.allocations)) {
    if (prev?.allocations[k]?.state === a.state) continue
    events.push({
      type: 'job', job: next.id, name: next.spec.name, state, index: a.index, attempt: a.attempt, node: a.nodeName, allocState: a.state,
      ...(a.reason === undefined ? {} : { reason: a.reason }),
    })
  }
  if (events.length === 0 && (prev === undefined || jobState(prev) !== state)) events.push({ type: 'job', job: next.id, name: next.spec.name, state })
  return events
}

/** Split records into messages of at most ~maxBytes of JSON each (one record always fits alone). */
export function recordBatches(records: JobRecord[], maxBytes: number): JobRecord[][] {
  const batches: JobRecord[][] = []
  let batch: JobRecord[] = []
  let size = 0
  for (const r of records) {
    const n = JSON.stringify(r).length
    if (batch.length > 0 && size + n > maxBytes) {
      batches.push(batch)
      batch = []
      size = 0
    }
    batch.push(r)
    size += n
  }
  if (batch.length > 0) batches.push(batch)
  return batches
}

/**
 * The events of one change this node tells on its event topic (activity.ts), so that each is told
 * by one node: a change this node made (`ours`) is told, but for the end of one of its own runs
 * when it is not the job's arbiter (the arbiter tells that); of a change from another node, only
 * the arbiter tells, and only the ends of runs (their runner may be gone).
 */
export function eventsToTell(prev: JobRecord | undefined, next: JobRecord, ours: boolean, arbiter: boolean, selfName: string): JobEvent[] {
  if (!ours && !arbiter) return []
  const told: JobEvent[] = []
  for (const event of jobChangeEvents(prev, next)) {
    const ends = endsARun(event)
    const runnersOwn = event.type === 'job' && event.node === selfName
    if (ours ? ends && !arbiter && runnersOwn : !ends) continue
    told.push(event as JobEvent)
  }
  return told
}

/** A run's end (or the job's, by it). */
function endsARun(event: ClusterEvent): boolean {
  if (event.type !== 'job') return false
  if (event.allocState !== undefined) return event.allocState === 'succeeded' || event.allocState === 'failed' || event.allocState === 'cancelled' || event.allocState === 'lost'
  return event.state === 'succeeded' || event.state === 'failed'
}
