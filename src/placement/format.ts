// Number and word formatting for rejection details and pending reasons. Kept in one place so every
// message prints resources the same way.
import type { Constraint } from './types.js'

/** cpu with at most 3 decimals, so 0.1 + 0.2 prints as "0.3". */
export function formatCpu(cpu: number): string {
  return String(Math.round(cpu * 1000) / 1000 + 0) // + 0 turns -0 into 0
}

/** Megabytes with at most 1 decimal. */
export function formatMb(mb: number): string {
  return String(Math.round(mb * 10) / 10 + 0)
}

/** "1 node" / "3 nodes". */
export function countNodes(n: number): string {
  return n === 1 ? '1 node' : `${n} nodes`
}

/** Picks the verb form for a node count: "1 node lacks" / "2 nodes lack". */
export function verb(n: number, singular: string, plural: string): string {
  return n === 1 ? singular : plural
}

/** "zone = a", "zone in a,b". */
export function formatConstraint(c: Constraint): string {
  return `${c.label} ${c.op} ${c.value}`
}
