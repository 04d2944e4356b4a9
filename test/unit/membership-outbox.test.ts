// Relays of joiners (src/core/membership-outbox.ts) and the digest that marks a joiner
// (src/core/table-digest.ts holdsOnly).
import { describe, expect, it } from 'vitest'
import { MAX_RELAY_BATCH, MembershipOutbox } from '../../src/core/membership-outbox.js'
import { holdsOnly, tableDigest } from '../../src/core/table-digest.js'
import type { Effect, NodeRecord } from '../../src/core/types.js'

const rec = (id: string, state: NodeRecord['state'] = 'alive'): NodeRecord => ({
  id, name: id, addrs: [], api: '', resources: { total: { cpu: 1, memoryMb: 1 }, free: { cpu: 1, memoryMb: 1 } },
  labels: {}, draining: false, allocations: 0, incarnation: 1, state, seq: 0, by: '',
})

function published(out: Effect[]): string[] {
  return out.flatMap((e) => e.kind === 'publish' && e.msg.type === 'records' ? e.msg.records.map((r) => r.id) : [])
}

describe('holdsOnly', () => {
  it('is true of the digest of a table with the node alone, false with anyone else or of another node', () => {
    expect(holdsOnly(tableDigest([rec('a')]), 'a')).toBe(true)
    expect(holdsOnly(tableDigest([rec('a')]), 'b')).toBe(false)
    // Ids in other buckets than a's: a table with them is not a joiner's.
    const others = Array.from({ length: 20 }, (_, i) => rec(`n${i}`))
    expect(holdsOnly(tableDigest([rec('a'), ...others]), 'a')).toBe(false)
    expect(holdsOnly([], 'a')).toBe(false)
  })
})

describe('MembershipOutbox relays', () => {
  const table = new Map<string, NodeRecord>()
  const held = (id: string): NodeRecord | undefined => table.get(id)

  it('a push-pull asked by a node that knows nobody relays it, if we have anyone else to tell', () => {
    const o = new MembershipOutbox('n0', 500)
    o.asked('j1', tableDigest([rec('j1')]), 0, 1)
    expect(o.relayDue()).toBe(Infinity)
    o.asked('j1', tableDigest([rec('j1'), ...Array.from({ length: 20 }, (_, i) => rec(`m${i}`))]), 0, 5)
    expect(o.relayDue()).toBe(Infinity)
    o.asked('j1', tableDigest([rec('j1')]), 0, 5)
    expect(o.relayDue()).toBeLessThan(500)
  })

  it('go out within the spread, in one message, once', () => {
    table.clear()
    const o = new MembershipOutbox('n1', 500)
    for (const id of ['j1', 'j2', 'j3']) { table.set(id, rec(id)); o.relay(id, 0, 8) }
    expect(o.relayDue()).toBeLessThan(500)
    const out: Effect[] = []
    expect(o.takeRelays(500, held)).toBe(3)
    o.flush(out)
    expect(published(out).sort()).toEqual(['j1', 'j2', 'j3'])
    expect(out.filter((e) => e.kind === 'publish')).toHaveLength(1)
    expect(o.relayDue()).toBe(Infinity)
  })

  it('a node connected to many peers relays sooner', () => {
    const o = new MembershipOutbox('n2', 500)
    for (let i = 0; i < 20; i++) o.relay(`j${i}`, 0, 50)
    // 500 ms * 8 / 50 = 80 ms.
    expect(o.relayDue()).toBeLessThan(80)
  })

  it('someone else\'s relay cancels ours; a member gone meanwhile is not relayed', () => {
    table.clear()
    const o = new MembershipOutbox('n3', 500)
    table.set('j1', rec('j1'))
    table.set('j2', rec('j2', 'dead'))
    o.relay('j1', 0, 8)
    o.relay('j2', 0, 8)
    o.relayedBy('j1')
    const out: Effect[] = []
    expect(o.takeRelays(1_000, held)).toBe(0)
    o.flush(out)
    expect(out).toEqual([])
  })

  it('waits for a member whose records have not come yet, and gives up after a while', () => {
    table.clear()
    const o = new MembershipOutbox('n4', 500)
    o.relay('late', 0, 8)
    expect(o.takeRelays(600, held)).toBe(0)
    expect(o.relayDue()).toBeLessThanOrEqual(601)
    table.set('late', rec('late'))
    expect(o.takeRelays(700, held)).toBe(1)
    o.relay('never', 1_000, 8)
    expect(o.takeRelays(1_000 + 20 * 500, held)).toBe(0)
    expect(o.relayDue()).toBe(Infinity)
  })

  it('sends at most MAX_RELAY_BATCH records a tick, the rest on the next', () => {
    table.clear()
    const o = new MembershipOutbox('n5', 500)
    for (let i = 0; i < MAX_RELAY_BATCH + 10; i++) { table.set(`j${i}`, rec(`j${i}`)); o.relay(`j${i}`, 0, 8) }
    expect(o.takeRelays(500, held)).toBe(MAX_RELAY_BATCH)
    expect(o.takeRelays(600, held)).toBe(10)
  })
})
