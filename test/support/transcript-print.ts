// How a transcript prints protocol messages: one short line each, with the fields that matter for
// jobs (the job, its allocations as `index.attempt state@node`, starts, what is wanted) and none
// of the noise (capacities, digests, times). Node ids are their short names.
import type { Allocation, JobDelta, JobRecord, JobStatus } from '../../src/core/job-types.js'
import type { AllocRef, GossipMessage, RpcRequest, RpcResponse } from '../../src/core/types.js'

/** Membership's messages: not per job, hidden unless a script says `show all`. */
export const MEMBERSHIP_TYPES: ReadonlySet<string> = new Set(['ping', 'ping-req', 'sync', 'sync-push', 'leave', 'directory'])

/** `0.1 claimed@n3`: instance 0, attempt 1, claimed for n3. */
export function alloc(a: Pick<Allocation, 'index' | 'attempt' | 'state' | 'nodeName'>): string {
  return `${a.index}.${a.attempt} ${a.state}@${a.nodeName}`
}

function allocs(list: ReadonlyArray<Pick<Allocation, 'index' | 'attempt' | 'state' | 'nodeName'>>): string {
  return [...list].sort((a, b) => a.index - b.index || a.attempt - b.attempt).map(alloc).join(', ')
}

/** `j1{0.1 claimed@n3}`, and `cancelled` when it is. */
export function record(r: JobRecord): string {
  return `${r.id}{${allocs(Object.values(r.allocations))}}${r.cancelled ? ' cancelled' : ''}`
}

function delta(d: JobDelta): string {
  const parts = [`${d.id}{${allocs(d.allocs ?? [])}}`]
  if (d.cancelledAt !== undefined) parts.push('cancelled')
  if (d.reason !== undefined) parts.push(`reason="${d.reason.text}"`)
  if (d.duplicates !== undefined) parts.push(`duplicates=${d.duplicates.map((x) => `${x.index}.${x.attempt}@${x.nodeName}`).join(',')}`)
  return parts.join(' ')
}

function starts(refs: readonly AllocRef[] | undefined): string {
  return refs === undefined || refs.length === 0 ? '' : ` start=[${refs.map((r) => `${r.id} ${r.index}.${r.attempt}`).join(', ')}]`
}

/** A request, as `type fields`. */
export function describeRequest(msg: RpcRequest): string {
  switch (msg.type) {
    case 'submit-job': return `submit-job ${record(msg.job)}${msg.reserved === undefined ? '' : ` reserved=${msg.reserved}`}`
    case 'store-job': return `store-job ${record(msg.job)}${starts(msg.start)}${msg.reserved === undefined ? '' : ` reserved=${msg.reserved}`}`
    case 'job-update': return `job-update ${msg.jobs.map(record).join(' ')}`
    case 'job-delta': return `job-delta ${msg.deltas.map(delta).join(' ')}${starts(msg.start)}`
    case 'start': return `start ${record(msg.job)} run ${msg.index}.${msg.attempt}`
    case 'capacity': return 'capacity'
    case 'hold': return `hold ${msg.id}`
    case 'drain': return `drain ${msg.enable ? 'on' : 'off'} deadline=${msg.deadlineMs}ms`
    case 'job-sync': return `job-sync ${Object.keys(msg.digests).sort().join(',') || '(none)'}`
    case 'job-fetch': return `job-fetch ${msg.ids === null ? '(all)' : msg.ids.join(',')}`
    case 'api': return `api ${msg.req.op}${'id' in msg.req ? ` ${msg.req.id}` : ''}`
    case 'ping': return `ping ${msg.seq}`
    case 'ping-req': return `ping-req ${msg.seq} target=${msg.target}`
    case 'sync': return `sync ${msg.records.length} records`
    case 'sync-push': return `sync-push ${msg.records.length} records`
    case 'leave': return 'leave'
    case 'directory': return `directory ${msg.contacts.length} contacts`
  }
}

/** A reply, as `type fields`. */
export function describeReply(msg: RpcResponse): string {
  switch (msg.type) {
    case 'ok': return `ok${msg.want === undefined || msg.want.length === 0 ? '' : ` want=${msg.want.join(',')}`}`
    case 'error': return `error ${msg.code}`
    case 'jobs': {
      const more = `${msg.want === undefined || msg.want.length === 0 ? '' : ` want=${msg.want.join(',')}`}${msg.collected === undefined ? '' : ` collected=${msg.collected.join(',')}`}`
      return `jobs ${msg.jobs.map(record).join(' ') || '(none)'}${more}`
    }
    case 'api-reply': return `api-reply ${msg.status}`
    case 'ack': return `ack ${msg.seq}`
    case 'nack': return `nack ${msg.seq}`
    case 'sync': return `sync ${msg.records.length} records`
    case 'directory': return `directory ${msg.contacts.length} contacts`
  }
}

/** A gossip message worth a line (activity digests), or null (member records: membership). */
export function describeGossip(msg: GossipMessage): string | null {
  if (msg.type !== 'activity') return null
  const events = msg.events.map((e) => e.index === undefined ? `${e.job} ${e.state}` : `${e.job} ${e.index}.${e.attempt} ${e.allocState}@${e.node}`)
  return `activity ${events.join(', ') || '(capacity only)'}${msg.dropped === undefined ? '' : ` +${msg.dropped} dropped`}`
}

/** A job as one node's API shows it: `succeeded; 0.1 succeeded@n3`, and why it waits when it does. */
export function status(s: JobStatus): string {
  const pending = s.pendingReason === undefined || s.pendingReason === '' ? '' : `; pending: ${s.pendingReason}`
  return `${s.state}; ${allocs(s.allocations) || 'no allocations'}${pending}`
}
