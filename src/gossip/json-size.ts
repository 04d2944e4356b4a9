// The UTF-8 length of JSON.stringify(value), without building the string. The simulator measures
// every message it carries (bytes per node are part of its report) and does not need the text:
// stringifying a 30-byte ping and measuring the result cost ~1.5 us, a tenth of a 10,000-node
// run; walking the value costs a third of that. Anything this walk does not size exactly as
// JSON.stringify would (escapes, non-ASCII text, toJSON, numbers in exponent form...) answers
// undefined, and the caller stringifies.

/**
 * Arrays at least this long are looked up in, and added to, the caller's memo. The one that
 * matters is the membership digest (64 hex strings, ~1.2 KB) every sync request carries: a node
 * computes it again only when its table changes, so 99% of sync requests carry an array already
 * measured (counted at 300 nodes), and walking its characters was most of the bytes this walk read.
 */
const MEMO_MIN_LENGTH = 16

/**
 * Bytes of JSON.stringify(value) encoded as UTF-8, or undefined when only stringifying can tell.
 * With `memo`, the sizes of long arrays are remembered by identity: only for values whose arrays
 * are never changed once measured (the simulator's messages, shared by every receiver already).
 */
export function jsonBytes(value: unknown, memo?: WeakMap<object, number>): number | undefined {
  const n = size(value, memo)
  return n < 0 ? undefined : n
}

function size(v: unknown, memo: WeakMap<object, number> | undefined): number {
  switch (typeof v) {
    case 'string': return stringSize(v)
    case 'number': return numberSize(v)
    case 'boolean': return v ? 4 : 5
    case 'object': {
      if (v === null) return 4
      if (Array.isArray(v)) {
        const remember = memo !== undefined && v.length >= MEMO_MIN_LENGTH
        if (remember) {
          const known = memo.get(v)
          if (known !== undefined) return known
        }
        let n = 2
        for (let i = 0; i < v.length; i++) {
          const x: unknown = v[i]
          // JSON.stringify writes null for what it cannot write inside an array.
          const s = x === undefined || typeof x === 'function' || typeof x === 'symbol' ? 4 : size(x, memo)
          if (s < 0) return -1
          n += s + (i > 0 ? 1 : 0)
        }
        if (remember) memo.set(v, n)
        return n
      }
      if (typeof (v as { toJSON?: unknown }).toJSON === 'function' || Object.getPrototypeOf(v) !== Object.prototype) return -1
      let n = 2
      let first = true
      for (const key in v) {
        const x = (v as Record<string, unknown>)[key]
        // Left out of objects by JSON.stringify.
        if (x === undefined || typeof x === 'function' || typeof x === 'symbol') continue
        const ks = stringSize(key)
        const s = size(x, memo)
        if (ks < 0 || s < 0) return -1
        n += ks + 1 + s + (first ? 0 : 1)
        first = false
      }
      return n
    }
    default: return -1
  }
}

/** Quoted, when no character needs an escape and all are ASCII (one byte each). */
function stringSize(s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7e) return -1
  }
  return s.length + 2
}

function numberSize(v: number): number {
  if (!Number.isFinite(v)) return 4
  if (Number.isInteger(v) && Math.abs(v) < 1e15) {
    let n = v < 0 ? 2 : 1
    let x = Math.abs(v)
    while (x >= 10) { x = Math.floor(x / 10); n++ }
    return n
  }
  return String(v).length
}
