// Delta push-pull: the digest finds exactly the buckets where two member tables differ, whatever
// the order of the records, and a cluster that loses all gossip still converges through it.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { bucketOf, DIGEST_BUCKETS, differingBuckets, inBuckets, tableDigest } from '../../src/core/table-digest.js'
import type { NodeRecord } from '../../src/core/types.js'
import { SimCluster } from '../../src/sim/sim-cluster.js'

const rec = (id: string, seq = 1, state: NodeRecord['state'] = 'alive'): NodeRecord => ({
  id, name: id, incarnation: 1, state, seq, by: '', addrs: [], api: '', labels: {}, draining: false, allocations: 0,
  resources: { total: { cpu: 4, memoryMb: 4096 }, free: { cpu: 4, memoryMb: 4096 } },
})

describe('table digest', () => {
  it('equal tables in any order agree on every bucket; one changed record differs in its bucket only', () => {
    fc.assert(fc.property(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 80 }), fc.nat(), (ids, pick) => {
      const table = ids.map((id) => rec(id))
      const d = tableDigest(table)
      expect(d).toHaveLength(DIGEST_BUCKETS)
      expect(differingBuckets(d, tableDigest([...table].reverse()))).toEqual([])
      const changed = ids[pick % ids.length] as string
      const other = table.map((r) => (r.id === changed ? rec(changed, 2) : r))
      expect(differingBuckets(d, tableDigest(other))).toEqual([bucketOf(changed)])
      expect(inBuckets(other, [bucketOf(changed)]).map((r) => r.id)).toContain(changed)
      // A node missing from one side also shows up.
      expect(differingBuckets(d, tableDigest(table.filter((r) => r.id !== changed)))).toEqual([bucketOf(changed)])
    }), { numRuns: 300 })
  })

  it('a short or garbled digest differs everywhere it is wrong', () => {
    const d = tableDigest([rec('a'), rec('b')])
    expect(differingBuckets(d, [])).toHaveLength(DIGEST_BUCKETS)
    expect(differingBuckets(d, d.map((x, i) => (i === 3 ? 'zz' : x)))).toEqual([3])
  })

  it('with every gossip message lost, a record change still reaches every node through delta syncs', () => {
    const sim = new SimCluster({ seed: 5, gossipLoss: 1 })
    for (let i = 1; i <= 8; i++) sim.start(`node-${i}`)
    sim.runUntilTrue(() => sim.ids().every((o) => sim.core(o).records().filter((r) => r.state === 'alive').length === 8), 20_000)
    const req = sim.drain('node-2', 'node-2')
    sim.runUntilTrue(() => sim.replies.has(req), 2_000)
    const took = sim.runUntilTrue(() => sim.ids().every((o) => sim.core(o).records().find((r) => r.id === 'node-2')?.draining === true), 30_000)
    expect(took).toBeLessThan(30_000)
  })
})
