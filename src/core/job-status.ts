// Views of job records: the API's JobStatus, and the placement's NodeView of a member record.
import type { NodeView } from '../placement/index.js'
import { jobState } from './job-merge.js'
import type { JobRecord, JobStatus } from './job-types.js'
import type { NodeRecord } from './types.js'

const iso = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString())

export function toJobStatus(r: JobRecord): JobStatus {
  const state = jobState(r)
  const allocations = Object.values(r.allocations)
    .sort((a, b) => a.index - b.index || a.attempt - b.attempt)
    .map((a) => ({
      index: a.index, attempt: a.attempt, nodeId: a.nodeId, nodeName: a.nodeName, state: a.state,
      exitCode: a.exitCode, startedAt: iso(a.startedAt), finishedAt: iso(a.finishedAt),
      ...(a.reason === undefined ? {} : { reason: a.reason }),
    }))
  return {
    id: r.id, name: r.spec.name, type: r.spec.type, state, submittedAt: iso(r.submittedAt) as string, spec: r.spec,
    ...(state === 'pending' && r.pendingReason !== '' ? { pendingReason: r.pendingReason } : {}),
    allocations,
  }
}

export function toNodeView(r: NodeRecord): NodeView {
  return { id: r.id, name: r.name, state: r.state, draining: r.draining, total: r.resources.total, free: r.resources.free, labels: r.labels }
}

/** The allocation id the execution layer uses: safe as a path segment, parseable back. */
export function allocationId(jobId: string, index: number, attempt: number): string {
  return `${jobId}.${index}.${attempt}`
}
