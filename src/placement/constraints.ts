// Label constraints: the one feasibility check with operator semantics, kept apart so its table
// of cases can be tested on its own.
import type { Constraint } from './types.js'

/** The items of an `in`/`not_in` value: comma-separated, trimmed, empties dropped ("a, b," is [a, b]). */
export function parseList(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter((s) => s.length > 0)
}

/**
 * Whether a node with `labels` satisfies `c`. A missing label fails `=` and `in` and passes `!=`
 * and `not_in`. An unknown operator (the JSON came from the network) fails closed: placing a job
 * somewhere its author did not intend is worse than leaving it pending with a reason.
 */
export function satisfies(c: Constraint, labels: Readonly<Record<string, string>>): boolean {
  const has = Object.hasOwn(labels, c.label)
  const actual = has ? labels[c.label] : undefined
  switch (c.op) {
    case '=':
      return has && actual === c.value
    case '!=':
      return !has || actual !== c.value
    case 'in':
      return has && parseList(c.value).includes(actual ?? '')
    case 'not_in':
      return !has || !parseList(c.value).includes(actual ?? '')
    default:
      return false
  }
}

/** Human text for a failed constraint: "needs zone = a, has zone=b" or "needs zone in a,b, has no zone label". */
export function describeFailure(c: Constraint, labels: Readonly<Record<string, string>>): string {
  const has = Object.hasOwn(labels, c.label)
  const known = ['=', '!=', 'in', 'not_in'].includes(c.op)
  const needs = known ? `needs ${c.label} ${c.op} ${c.value}` : `unknown operator ${JSON.stringify(c.op)} on ${c.label}`
  return has ? `${needs}, has ${c.label}=${labels[c.label] ?? ''}` : `${needs}, has no ${c.label} label`
}
