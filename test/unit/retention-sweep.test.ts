// Retention's tombstone sweep (src/core/retention.ts) runs on every tick and skips the map until
// its oldest entry may be due; entries removed by other paths must not hide a due one from it.
import { describe, expect, it } from 'vitest'
import { Retention } from '../../src/core/retention.js'

describe('Retention.sweepTombstones', () => {
  it('drops tombstones past the window, oldest first, whatever removed entries before', () => {
    const r = new Retention(100)
    r.collected('a', 0)
    r.collected('b', 10)
    r.collected('c', 50)
    r.sweepTombstones(100)
    expect(r.size().tombstones).toBe(3)
    // A read past a's window drops it by itself; the sweep still finds b due later.
    expect(r.isCollected('a', 101)).toBe(false)
    r.sweepTombstones(105)
    expect(r.size().tombstones).toBe(2)
    r.sweepTombstones(111)
    expect(r.size().tombstones).toBe(1)
    expect(r.isCollected('c', 111)).toBe(true)
    r.sweepTombstones(151)
    expect(r.size().tombstones).toBe(0)
    // Collected again after the map emptied: its window starts then.
    r.collected('d', 200)
    r.sweepTombstones(300)
    expect(r.size().tombstones).toBe(1)
    r.sweepTombstones(301)
    expect(r.size().tombstones).toBe(0)
  })
})
