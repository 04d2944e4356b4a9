// Cells: how a large cluster stays O(cell) per node. A node belongs to cell hash(id) mod `cells`
// (a cluster-wide setting; 1 = one cell, the whole cluster). Membership (probing, push-pull,
// gossip) and jobs (storing nodes, arbiters, runners) stay inside a cell; a job lives in the cell
// hash(job id) mod `cells`, and an API request for it on a node of another cell is forwarded to a
// contact there (src/core/cell-router.ts). A job submitted without an idempotency key takes an id
// of a cell with room for it (spill, cell-router.ts and admission.ts). A node knows every member of its own cell and a few
// contacts per other cell (src/core/directory.ts). Both are pure functions of ids: no node is special.
import { fnv1a64, mix64 } from '../placement/hash.js'

/** Memo per cell count: a pure function of the id, asked on every record a node merges. */
const memo = new Map<number, Map<string, number>>()

export function cellOf(id: string, cells: number): number {
  if (cells <= 1) return 0
  let m = memo.get(cells)
  if (m === undefined) memo.set(cells, m = new Map())
  let c = m.get(id)
  if (c === undefined) {
    c = mix64(fnv1a64(`cell\u0000${id}`)).lo % cells
    if (m.size >= 1_000_000) m.clear()
    m.set(id, c)
  }
  return c
}

/** The gossipsub topic of a cell: the cluster topic itself while there is one cell. */
export function cellTopic(clusterTopic: string, cell: number, cells: number): string {
  return cells <= 1 ? clusterTopic : `${clusterTopic}/cell/${cell}`
}

/** Most cells a cluster may be split into (the directory holds a few contacts per cell). */
export const MAX_CELLS = 4096
