// The rendezvous hash: bit-exact against a plain BigInt FNV-1a 64 + fmix64, pinned values, and the
// unit-interval mapping never reaching 0 or 1.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { fnv1a64, hash64Hex, mix64, rendezvousHash, rendezvousHasher, toUnitInterval } from '../../src/placement/index.js'

const MASK = (1n << 64n) - 1n

function referenceFnv1a64(s: string): bigint {
  let h = 0xcbf29ce484222325n
  for (const b of new TextEncoder().encode(s)) {
    h ^= BigInt(b)
    h = (h * 0x100000001b3n) & MASK
  }
  return h
}

function referenceFmix64(k: bigint): bigint {
  k ^= k >> 33n
  k = (k * 0xff51afd7ed558ccdn) & MASK
  k ^= k >> 33n
  k = (k * 0xc4ceb9fe1a85ec53n) & MASK
  k ^= k >> 33n
  return k
}

const hex = (v: bigint): string => v.toString(16).padStart(16, '0')

/** Strings made of arbitrary UTF-16 code units, lone surrogates included. */
const anyUtf16 = fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 40 }).map((units) => String.fromCharCode(...units))

describe('fnv1a64', () => {
  it.each([
    ['', 'cbf29ce484222325'],
    ['a', 'af63dc4c8601ec8c'],
    ['foobar', '85944171f73967e8'],
  ])('matches the published FNV-1a 64 vector for %j', (input, expected) => {
    expect(hash64Hex(fnv1a64(input))).toBe(expected)
  })

  it('matches a BigInt reference on arbitrary strings (UTF-8, lone surrogates as U+FFFD)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), anyUtf16), (s) => {
        expect(hash64Hex(fnv1a64(s))).toBe(hex(referenceFnv1a64(s)))
        expect(hash64Hex(mix64(fnv1a64(s)))).toBe(hex(referenceFmix64(referenceFnv1a64(s))))
      }),
      { numRuns: 500 },
    )
  })
})

describe('toUnitInterval', () => {
  it('maps the extremes strictly inside (0, 1)', () => {
    const lowest = toUnitInterval({ hi: 0, lo: 0 })
    const highest = toUnitInterval({ hi: 0xffffffff, lo: 0xffffffff })
    expect(lowest).toBeGreaterThan(0)
    expect(highest).toBeLessThan(1)
    expect(Number.isFinite(Math.log(lowest))).toBe(true)
    expect(Math.log(highest)).toBeLessThan(0)
  })
})

describe('rendezvousHash', () => {
  // Pinned: if these change, every node running an older build disagrees about placement.
  it.each([
    ['job-1/0/1', 'node-a', 0.41267878176771455],
    ['job-1/0/1', 'node-b', 0.695109600063687],
    ['alloc-0', 'n0', 0.48784189174812054],
    ['', '', 0.10835817485022992],
  ])('hash(%j, %j) is pinned', (key, nodeId, expected) => {
    expect(rendezvousHash(key, nodeId)).toBe(expected)
  })

  it('is in (0, 1), stable, and the same through the prefix-reusing hasher', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (key, nodeId) => {
        const h = rendezvousHash(key, nodeId)
        expect(h).toBeGreaterThan(0)
        expect(h).toBeLessThan(1)
        expect(rendezvousHash(key, nodeId)).toBe(h)
        expect(rendezvousHasher(key)(nodeId)).toBe(h)
      }),
    )
  })

  it('does not collide by concatenation: (ab, c) and (a, bc) differ', () => {
    expect(rendezvousHash('ab', 'c')).not.toBe(rendezvousHash('a', 'bc'))
  })

  it('is roughly uniform: 10 equal buckets over 20,000 keys each get 10% +- 1%', () => {
    const buckets = new Array<number>(10).fill(0)
    for (let i = 0; i < 20_000; i++) {
      const b = Math.floor(rendezvousHash(`alloc-${i}`, 'node') * 10)
      buckets[b] = (buckets[b] ?? 0) + 1
    }
    for (const n of buckets) expect(n / 20_000).toBeGreaterThan(0.09)
    for (const n of buckets) expect(n / 20_000).toBeLessThan(0.11)
  })
})
