// A cancel through the API, once the job was read (from our copy, or from its storing nodes):
// the answer it gets, and the cancel written into the record when it is not there yet.
import type { JobDelta, JobRecord } from './job-types.js'
import type { Effect, Millis } from './types.js'

/** What a cancel needs of the job machine. */
export interface CancelHost {
  /** Whether the job ended and was collected after its retention window (retention.ts). */
  isCollected(id: string, now: Millis): boolean
  /** Merge a copy read from another node into ours; returns the merged record. */
  receive(r: JobRecord, now: Millis, out: Effect[]): JobRecord
  /** Author a change of the job (here: its cancel), which goes to every node that holds it. */
  author(d: JobDelta, now: Millis, out: Effect[]): void
}

export function cancelFound(host: CancelHost, reqId: number, id: string, found: JobRecord | undefined, now: Millis, out: Effect[]): void {
  if (found === undefined && host.isCollected(id, now)) {
    out.push({ kind: 'api-reply', reqId, reply: { status: 404, body: { error: { code: 'collected', message: `job ${id} ended and was removed after its retention window` } } } })
    return
  }
  if (found === undefined) {
    out.push({ kind: 'api-reply', reqId, reply: { status: 404, body: { error: { code: 'not_found', message: `no job ${id}` } } } })
    return
  }
  const r = host.receive(found, now, out)
  if (!r.cancelled) host.author({ id, cancelledAt: now }, now, out)
  out.push({ kind: 'api-reply', reqId, reply: { status: 202, body: { id, state: 'cancelled' } } })
}
