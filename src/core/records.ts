// Ordering and merging of node records. The merge is "keep the greater record" under a total
// order, which makes it a join: idempotent, commutative and associative, so gossip, push-pull and
// replays may deliver records in any order, any number of times, and every node ends up the same.
import type { MemberState, NodeId, NodeRecord } from './types.js'

/** At one incarnation a later verdict beats an earlier one: alive < suspect < dead < left. */
const STATE_RANK: Record<MemberState, number> = { alive: 0, suspect: 1, dead: 2, left: 3 }

export function stateRank(state: MemberState): number {
  return STATE_RANK[state]
}

/**
 * Total order on records about the same node: incarnation (older news never overrides newer),
 * then state rank, then the owner's seq, then who made the claim, then the content itself, so
 * two different records never compare equal and the merge cannot depend on arrival order.
 */
export function compareRecords(a: NodeRecord, b: NodeRecord): number {
  if (a.incarnation !== b.incarnation) return a.incarnation < b.incarnation ? -1 : 1
  const ra = STATE_RANK[a.state]
  const rb = STATE_RANK[b.state]
  if (ra !== rb) return ra < rb ? -1 : 1
  if (a.seq !== b.seq) return a.seq < b.seq ? -1 : 1
  if (a.by !== b.by) return a.by < b.by ? -1 : 1
  const ka = contentKey(a)
  const kb = contentKey(b)
  return ka === kb ? 0 : ka < kb ? -1 : 1
}

/** The greater of two records about one node. */
export function mergeRecord(a: NodeRecord, b: NodeRecord): NodeRecord {
  return compareRecords(a, b) >= 0 ? a : b
}

/** Merge a batch into a table (returns a new map; the inputs are not changed). */
export function mergeTables(table: ReadonlyMap<NodeId, NodeRecord>, records: Iterable<NodeRecord>): Map<NodeId, NodeRecord> {
  const out = new Map(table)
  for (const r of records) {
    const cur = out.get(r.id)
    out.set(r.id, cur === undefined ? r : mergeRecord(cur, r))
  }
  return out
}

/** A canonical string of a record (keys sorted), used only to break exact ties. */
function contentKey(r: NodeRecord): string {
  return JSON.stringify(r, (_key, value: unknown) => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const sorted: Record<string, unknown> = {}
      for (const k of Object.keys(value).sort()) sorted[k] = (value as Record<string, unknown>)[k]
      return sorted
    }
    return value
  })
}
