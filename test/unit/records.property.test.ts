// The merge of node records must be a join: idempotent, commutative, associative, and so blind
// to the order and number of deliveries.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { compareRecords, mergeRecord, mergeTables } from '../../src/core/records.js'
import type { NodeRecord } from '../../src/core/types.js'

const ids = ['a', 'b', 'c']
const arbRecord: fc.Arbitrary<NodeRecord> = fc.record({
  id: fc.constantFrom(...ids),
  name: fc.constantFrom('n1', 'n2'),
  incarnation: fc.integer({ min: 0, max: 3 }),
  state: fc.constantFrom('alive', 'suspect', 'dead', 'left'),
  seq: fc.integer({ min: 0, max: 3 }),
  by: fc.constantFrom('', 'a', 'b'),
  addrs: fc.constant([]),
  api: fc.constant(''),
  resources: fc.record({
    total: fc.record({ cpu: fc.constantFrom(1, 2), memoryMb: fc.constant(1024) }),
    free: fc.record({ cpu: fc.constantFrom(0, 1), memoryMb: fc.constantFrom(0, 512) }),
  }),
  labels: fc.constantFrom<Record<string, string>>({}, { zone: 'a' }),
  draining: fc.boolean(),
  allocations: fc.integer({ min: 0, max: 2 }),
})
const sameNode = fc.tuple(arbRecord, arbRecord, arbRecord).map(([a, b, c]) => [a, { ...b, id: a.id }, { ...c, id: a.id }] as const)

function tableOf(records: NodeRecord[]): string {
  const t = mergeTables(new Map(), records)
  return JSON.stringify([...t.entries()].sort(([x], [y]) => (x < y ? -1 : 1)))
}

describe('record merge', () => {
  it('is idempotent, commutative and associative', () => {
    fc.assert(fc.property(sameNode, ([a, b, c]) => {
      expect(mergeRecord(a, a)).toEqual(a)
      expect(mergeRecord(a, b)).toEqual(mergeRecord(b, a))
      expect(mergeRecord(mergeRecord(a, b), c)).toEqual(mergeRecord(a, mergeRecord(b, c)))
    }), { numRuns: 2000 })
  })

  it('orders records totally: only identical records compare equal', () => {
    fc.assert(fc.property(sameNode, ([a, b]) => {
      const ab = compareRecords(a, b)
      // Antisymmetric (compared with ===, since -Math.sign(0) is -0 and Object.is(0, -0) is false).
      expect(Math.sign(ab) === -Math.sign(compareRecords(b, a))).toBe(true)
      if (ab === 0) expect(a).toEqual(b)
    }), { numRuns: 2000 })
  })

  it('a copy decoded elsewhere (new objects, other key order) compares equal to the original', () => {
    const reorder = (v: unknown): unknown => {
      if (Array.isArray(v)) return v.map(reorder)
      if (v === null || typeof v !== 'object') return v
      return Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reorder(x)]))
    }
    fc.assert(fc.property(arbRecord, (a) => {
      const copy = reorder(JSON.parse(JSON.stringify(a))) as NodeRecord
      expect(compareRecords(a, copy)).toBe(0)
      expect(compareRecords(a, { ...copy, labels: { ...copy.labels, extra: 'x' } })).not.toBe(0)
    }), { numRuns: 500 })
  })

  it('gives the same table for any delivery order and any duplication', () => {
    fc.assert(fc.property(
      fc.array(arbRecord, { maxLength: 30 }),
      fc.array(fc.nat(), { maxLength: 30 }),
      (records, dupIdx) => {
        const dups = dupIdx.map((i) => records[i % Math.max(1, records.length)]).filter((r): r is NodeRecord => r !== undefined)
        const shuffled = [...records, ...dups].reverse()
        expect(tableOf(shuffled)).toBe(tableOf(records))
        // Merging two halves separately and then together is the same as merging all at once.
        const mid = Math.floor(records.length / 2)
        const left = mergeTables(new Map(), records.slice(0, mid))
        const both = mergeTables(left, mergeTables(new Map(), records.slice(mid)).values())
        expect(JSON.stringify([...both.entries()].sort(([x], [y]) => (x < y ? -1 : 1)))).toBe(tableOf(records))
      },
    ), { numRuns: 500 })
  })

  it('never lets older news override newer', () => {
    fc.assert(fc.property(sameNode, ([a, b]) => {
      const m = mergeRecord(a, b)
      expect(m.incarnation).toBe(Math.max(a.incarnation, b.incarnation))
    }), { numRuns: 1000 })
  })
})
