// The simulator measures messages without stringifying them: jsonBytes must say exactly what
// JSON.stringify's UTF-8 length is, or nothing.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { jsonBytes } from '../../src/gossip/json-size.js'

const exact = (v: unknown): number => Buffer.byteLength(JSON.stringify(v))

describe('jsonBytes', () => {
  it('is the byte length of JSON.stringify, or undefined, for any JSON value', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => {
      const n = jsonBytes(v)
      if (n !== undefined) expect(n).toBe(exact(v))
    }), { numRuns: 3000 })
  })

  it('also for what JSON leaves out or turns into null', () => {
    fc.assert(fc.property(fc.anything({ withBoxedValues: false, withMap: true, withSet: true, withNullPrototype: true, withObjectString: true }), (v) => {
      let want: number | undefined
      try { want = JSON.stringify(v) === undefined ? undefined : exact(v) } catch { return }
      const n = jsonBytes(v)
      if (n !== undefined) expect(n).toBe(want)
    }), { numRuns: 3000 })
    expect(jsonBytes({ a: undefined, b: [undefined, () => 1], c: -0, d: NaN, e: 1e21, f: 0.1 })).toBe(exact({ a: undefined, b: [undefined, () => 1], c: -0, d: NaN, e: 1e21, f: 0.1 }))
  })

  it('sizes the simulator messages itself (ASCII ids, small numbers): no fallback', () => {
    const msgs = [{ type: 'ping', seq: 12345, from: null }, { type: 'ok' }, { type: 'job-sync', digests: { 'j-abc': '0123456789abcdef' } }, { type: 'capacity', free: { cpu: 3.5, memoryMb: 2048 } }]
    for (const m of msgs) expect(jsonBytes(m)).toBe(exact(m))
    expect(jsonBytes({ name: 'naïve' })).toBeUndefined()
    expect(jsonBytes({ at: new Date(0) })).toBeUndefined()
  })

  it('with a memo, gives the same sizes, and reads a long array it measured from the memo', () => {
    const memo = new WeakMap<object, number>()
    fc.assert(fc.property(fc.jsonValue(), (v) => {
      const n = jsonBytes(v)
      expect(jsonBytes(v, memo)).toBe(n)
      expect(jsonBytes(v, memo)).toBe(n)
    }), { numRuns: 2000 })
    const digest = Array.from({ length: 64 }, (_, i) => i.toString(16).padStart(16, '0'))
    const sync = { type: 'sync', records: [], digest, cells: 10 }
    expect(jsonBytes(sync, memo)).toBe(exact(sync))
    expect(memo.get(digest)).toBe(exact(digest))
    // Short arrays are not kept (a weak-map entry per small array would cost more than walking it).
    expect(memo.has(sync.records)).toBe(false)
    // What the memo holds is what counts: the memo is only for arrays never changed once measured.
    memo.set(digest, 7)
    expect(jsonBytes({ digest }, memo)).toBe(exact({ digest: [] }) - 2 + 7)
  })
})
