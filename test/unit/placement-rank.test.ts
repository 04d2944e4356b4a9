// rankNodes as a whole: determinism, partition of nodes, load spread, capacity weighting and
// rendezvous hashing's minimal disruption.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { nodeView } from '../support/placement-fixtures.js'
import { capacityWeight, checkFeasibility, DEFAULT_EXCLUDE_DETAIL, rankNodes, type Constraint, type NodeView, type PlacementJob } from '../../src/placement/index.js'

const node = (id: string, patch: Partial<NodeView> = {}): NodeView => nodeView(id, patch, { cpu: 8, memoryMb: 8192 })

const small: PlacementJob = { id: 'job', resources: { cpu: 0.1, memoryMb: 64 }, constraints: [] }

const constraintArb: fc.Arbitrary<Constraint> = fc.record({
  label: fc.constantFrom('zone', 'disk'),
  op: fc.constantFrom<Constraint['op']>('=', '!=', 'in', 'not_in'),
  value: fc.constantFrom('a', 'b', 'a,b', 'ssd', 'a, ssd'),
})

const jobArb: fc.Arbitrary<PlacementJob> = fc.record({
  id: fc.string({ maxLength: 8 }),
  resources: fc.record({ cpu: fc.constantFrom(0.1, 0.2, 0.5, 1, 2, 4), memoryMb: fc.integer({ min: 16, max: 4096 }) }),
  constraints: fc.array(constraintArb, { maxLength: 2 }),
})

function nodeArb(id: string): fc.Arbitrary<NodeView> {
  return fc.record({
    id: fc.constant(id),
    name: fc.string({ maxLength: 6 }),
    state: fc.constantFrom<NodeView['state']>('alive', 'alive', 'alive', 'alive', 'suspect', 'dead', 'left'),
    draining: fc.integer({ min: 0, max: 5 }).map((n) => n === 0),
    total: fc.constant({ cpu: 16, memoryMb: 16384 }),
    free: fc.record({ cpu: fc.double({ min: 0, max: 16, noNaN: true }), memoryMb: fc.integer({ min: 0, max: 16384 }) }),
    labels: fc.dictionary(fc.constantFrom('zone', 'disk'), fc.constantFrom('a', 'b', 'ssd')),
  })
}

/** 0..12 nodes with unique ids. */
const nodesArb: fc.Arbitrary<NodeView[]> = fc
  .uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { maxLength: 12 })
  .chain((ids) => fc.tuple(...ids.map(nodeArb)))

/** A node list together with a permutation of it. */
const nodesAndShuffle = nodesArb.chain((nodes) =>
  fc.tuple(fc.constant(nodes), fc.shuffledSubarray(nodes, { minLength: nodes.length, maxLength: nodes.length })),
)

/** Fraction of keys for which each node is the top candidate. */
function topShares(nodes: NodeView[], keys: string[], j: PlacementJob = small): Map<string, number> {
  const wins = new Map<string, number>(nodes.map((n) => [n.id, 0]))
  for (const key of keys) {
    const top = rankNodes(j, key, nodes).candidates[0]
    if (top) wins.set(top.nodeId, (wins.get(top.nodeId) ?? 0) + 1)
  }
  return new Map([...wins].map(([id, w]) => [id, w / keys.length]))
}

const keys = (n: number, prefix = 'alloc'): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${i}/0/1`)

describe('rankNodes properties', () => {
  it('gives the same ranking whatever the order of the input nodes', () => {
    fc.assert(
      fc.property(jobArb, fc.string(), nodesAndShuffle, (j, key, [nodes, shuffled]) => {
        expect(rankNodes(j, key, shuffled)).toEqual(rankNodes(j, key, nodes))
      }),
      { numRuns: 300 },
    )
  })

  it('keeps exactly the nodes the feasibility checks pass, and rejects the others with their first failing check', () => {
    // rank.ts asks a fast inline test first and checkFeasibility only for the rejected: the two
    // must agree (a check added to FEASIBILITY_CHECKS must be added to the inline one too).
    fc.assert(
      fc.property(jobArb, fc.string(), nodesArb, fc.integer({ min: 0, max: 3 }), (j, key, nodes, excluded) => {
        const exclude = new Set(nodes.slice(0, excluded).map((n) => n.id))
        const r = rankNodes(j, key, nodes, { exclude })
        const byId = new Map(nodes.map((n) => [n.id, n]))
        for (const c of r.candidates) expect(checkFeasibility({ job: j, node: byId.get(c.nodeId) as NodeView, exclude, excludeDetail: DEFAULT_EXCLUDE_DETAIL })).toBeUndefined()
        for (const x of r.rejected) expect(x).toEqual(checkFeasibility({ job: j, node: byId.get(x.nodeId) as NodeView, exclude, excludeDetail: DEFAULT_EXCLUDE_DETAIL }))
      }),
      { numRuns: 300 },
    )
  })

  it('puts every node in exactly one of candidates and rejected; rejections carry a reason and detail', () => {
    fc.assert(
      fc.property(jobArb, fc.string(), nodesArb, (j, key, nodes) => {
        const r = rankNodes(j, key, nodes)
        const ids = [...r.candidates.map((c) => c.nodeId), ...r.rejected.map((x) => x.nodeId)].sort()
        expect(ids).toEqual(nodes.map((n) => n.id).sort())
        for (const x of r.rejected) expect(x.detail.length).toBeGreaterThan(0)
        expect(r.pendingReason === undefined).toBe(r.candidates.length > 0)
      }),
      { numRuns: 300 },
    )
  })

  it('sorts candidates by score desc, then nodeId asc, with finite positive scores', () => {
    fc.assert(
      fc.property(jobArb, fc.string(), nodesArb, (j, key, nodes) => {
        const { candidates } = rankNodes(j, key, nodes)
        for (const c of candidates) expect(c.score > 0 && Number.isFinite(c.score)).toBe(true)
        for (let i = 1; i < candidates.length; i++) {
          const [a, b] = [candidates[i - 1]!, candidates[i]!]
          expect(a.score > b.score || (a.score === b.score && a.nodeId < b.nodeId)).toBe(true)
        }
      }),
    )
  })

  it('only ranks nodes that are alive, not draining, satisfy constraints and have room', () => {
    fc.assert(
      fc.property(jobArb, fc.string(), nodesArb, (j, key, nodes) => {
        const byId = new Map(nodes.map((n) => [n.id, n]))
        for (const c of rankNodes(j, key, nodes).candidates) {
          const n = byId.get(c.nodeId)!
          expect(n.state).toBe('alive')
          expect(n.draining).toBe(false)
          expect(n.free.cpu + 1e-9).toBeGreaterThanOrEqual(j.resources.cpu)
          expect(n.free.memoryMb + 1e-9).toBeGreaterThanOrEqual(j.resources.memoryMb)
        }
      }),
    )
  })

  it('removing a node only moves the allocations that node was winning (minimal disruption)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 12 }), fc.nat(), fc.array(fc.string(), { minLength: 1, maxLength: 30 }), (n, gone, ks) => {
        const nodes = Array.from({ length: n }, (_, i) => node(`n${i}`, { free: { cpu: 1 + i, memoryMb: 1024 * (1 + i) } }))
        const removed = nodes[gone % n]!.id
        const rest = nodes.filter((x) => x.id !== removed)
        for (const key of ks) {
          const before = rankNodes(small, key, nodes).candidates[0]!.nodeId
          const after = rankNodes(small, key, rest).candidates[0]!.nodeId
          if (before !== removed) expect(after).toBe(before)
        }
      }),
    )
  })
})

describe('load spread', () => {
  const equal = Array.from({ length: 10 }, (_, i) => node(`node-${i}`))

  it('1000 allocation keys on 10 equal nodes: each node is top-1 for 5%..15%', () => {
    const shares = topShares(equal, keys(1000))
    for (const share of shares.values()) {
      expect(share).toBeGreaterThanOrEqual(0.05)
      expect(share).toBeLessThanOrEqual(0.15)
    }
  })

  it('holds for random key sets too', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 12 }), (prefix) => {
        for (const share of topShares(equal, keys(1000, prefix)).values()) {
          expect(share).toBeGreaterThanOrEqual(0.05)
          expect(share).toBeLessThanOrEqual(0.15)
        }
      }),
      { numRuns: 20 },
    )
  })

  it('a node with 4x the free capacity wins about 4 times in 5', () => {
    const nodes = [node('big', { free: { cpu: 16, memoryMb: 16384 } }), node('little', { free: { cpu: 4, memoryMb: 4096 } })]
    const share = topShares(nodes, keys(2000)).get('big')!
    expect(share).toBeGreaterThan(0.75)
    expect(share).toBeLessThan(0.85)
  })

  it('win shares follow weights across a mixed cluster (within 3 points)', () => {
    const frees = [1, 2, 4, 8, 1]
    const nodes = frees.map((f, i) => node(`m${i}`, { free: { cpu: f, memoryMb: 1024 * f } }))
    const shares = topShares(nodes, keys(4000))
    const total = frees.reduce((a, b) => a + b, 0)
    frees.forEach((f, i) => expect(Math.abs(shares.get(`m${i}`)! - f / total)).toBeLessThan(0.03))
  })

  it('the bottleneck resource sets the weight: lots of cpu does not help a memory-poor node', () => {
    const nodes = [node('cpu-rich', { free: { cpu: 64, memoryMb: 1024 } }), node('balanced', { free: { cpu: 4, memoryMb: 4096 } })]
    const j: PlacementJob = { id: 'j', resources: { cpu: 0.5, memoryMb: 512 }, constraints: [] }
    expect(capacityWeight(nodes[0]!.free, j.resources)).toBe(2)
    expect(capacityWeight(nodes[1]!.free, j.resources)).toBe(8)
    expect(topShares(nodes, keys(2000), j).get('balanced')!).toBeGreaterThan(0.72)
  })

  it('a node with room for exactly one copy still gets picked sometimes (weight floor of one copy)', () => {
    const nodes = [node('full-ish', { free: { cpu: 0.1, memoryMb: 64 } }), node('roomy', { free: { cpu: 1, memoryMb: 640 } })]
    const share = topShares(nodes, keys(2000)).get('full-ish')!
    expect(share).toBeGreaterThan(0.05)
    expect(share).toBeLessThan(0.14) // expected 1/11
  })
})

describe('capacityWeight', () => {
  it.each([
    [{ cpu: 4, memoryMb: 4096 }, { cpu: 1, memoryMb: 1024 }, 4],
    [{ cpu: 4, memoryMb: 1024 }, { cpu: 1, memoryMb: 1024 }, 1],
    [{ cpu: 0.3, memoryMb: 64 }, { cpu: 0.1, memoryMb: 64 }, 1],
    [{ cpu: 1, memoryMb: 1024 }, { cpu: 0, memoryMb: 0 }, 1000],
  ])('weight(free %j, need %j) = %d', (free, need, w) => {
    expect(capacityWeight(free, need)).toBeCloseTo(w, 9)
  })

  it('is always finite and positive', () => {
    fc.assert(
      fc.property(fc.double(), fc.double(), fc.double(), fc.double(), (a, b, c, d) => {
        const w = capacityWeight({ cpu: a, memoryMb: b }, { cpu: c, memoryMb: d })
        expect(w > 0 && Number.isFinite(w)).toBe(true)
      }),
    )
  })
})

describe('rankNodes with a packing sample (power of k choices)', () => {
  const job: PlacementJob = { id: 'j', resources: { cpu: 1, memoryMb: 512 }, constraints: [] }

  it('offers the k sampled nodes first, fullest band first and the tightest in a band, then the others by score', () => {
    fc.assert(
      fc.property(nodesAndShuffle, fc.integer({ min: 1, max: 6 }), fc.string({ maxLength: 6 }), ([nodes, shuffled], k, key) => {
        const plain = rankNodes(job, key, nodes)
        const packed = rankNodes(job, key, nodes, { sample: k })
        // The same candidates and rejections, in a new order that does not depend on input order.
        expect(packed.candidates.map((c) => c.nodeId).sort()).toEqual(plain.candidates.map((c) => c.nodeId).sort())
        expect(packed.rejected).toEqual(plain.rejected)
        expect(rankNodes(job, key, shuffled, { sample: k })).toEqual(packed)
        const head = packed.candidates.slice(0, k)
        const weight = (id: string): number => {
          const n = nodes.find((x) => x.id === id) as NodeView
          return capacityWeight(n.free, job.resources)
        }
        const band = (id: string): number => {
          const n = nodes.find((x) => x.id === id) as NodeView
          return Math.max(1, Math.ceil(Math.min(n.free.cpu / n.total.cpu, n.free.memoryMb / n.total.memoryMb) * 4 - 1e-9))
        }
        for (let i = 1; i < head.length; i++) {
          const [a, b] = [head[i - 1]!.nodeId, head[i]!.nodeId]
          expect(band(b)).toBeGreaterThanOrEqual(band(a))
          if (band(a) === band(b)) expect(weight(b)).toBeGreaterThanOrEqual(weight(a))
        }
        // After the sample: the weighted rendezvous order of the remaining candidates.
        const headIds = new Set(head.map((c) => c.nodeId))
        expect(packed.candidates.slice(k)).toEqual(plain.candidates.filter((c) => !headIds.has(c.nodeId)))
      }),
    )
  })

  it('with a sample as large as the cluster it is plain best fit: the fullest node that still has room', () => {
    const nodes = [
      node('a', { free: { cpu: 8, memoryMb: 8192 } }),
      node('b', { free: { cpu: 1.5, memoryMb: 8192 } }),
      node('c', { free: { cpu: 0.5, memoryMb: 8192 } }), // no room for 1 cpu
      node('d', { free: { cpu: 4, memoryMb: 600 } }), // memory is its bottleneck: one copy
    ]
    const top = rankNodes(job, 'x/0/1', nodes, { sample: 10 }).candidates.map((c) => c.nodeId)
    expect(top[0]).toBe('d')
    expect(top[1]).toBe('b')
    expect(top).not.toContain('c')
  })

  it('puts the preferred nodes (the job\'s storing nodes) first among the nodes of their fill band', () => {
    const nodes = [
      node('a', { free: { cpu: 7, memoryMb: 8192 } }), // band 4, tightest of the empty band
      node('b', { free: { cpu: 8, memoryMb: 8192 } }), // band 4, preferred
      node('c', { free: { cpu: 1.5, memoryMb: 8192 } }), // band 1: fullest
      node('d', { free: { cpu: 0.5, memoryMb: 8192 } }), // no room
    ]
    expect(rankNodes(job, 'x/0/1', nodes, { sample: 10, prefer: ['b'] }).candidates.map((c) => c.nodeId)).toEqual(['c', 'b', 'a'])
    expect(rankNodes(job, 'x/0/1', nodes, { sample: 10, prefer: ['b', 'c'] }).candidates.map((c) => c.nodeId)).toEqual(['c', 'b', 'a'])
    // A preferred node outside the k sampled is taken into the sample.
    const many = Array.from({ length: 30 }, (_, i) => node(`n${i}`))
    const far = rankNodes(job, 'x/0/1', many, { sample: 2 }).candidates.slice(2).map((c) => c.nodeId)[5] as string
    expect(rankNodes(job, 'x/0/1', many, { sample: 2, prefer: [far] }).candidates[0]?.nodeId).toBe(far)
    // Without packing the preferred nodes simply come first.
    expect(rankNodes(job, 'x/0/1', nodes, { prefer: ['a'] }).candidates[0]?.nodeId).toBe('a')
  })

  it('different keys sample different nodes, so concurrent placements do not all race for one node', () => {
    const nodes = Array.from({ length: 50 }, (_, i) => node(`n${i}`, { free: { cpu: 2 + (i % 5), memoryMb: 8192 } }))
    const firsts = new Set(keys(200).map((k) => rankNodes(job, k, nodes, { sample: 4 }).candidates[0]?.nodeId))
    // Global best fit would pick one of the 10 tightest nodes every time; samples of 4 spread wider.
    expect(firsts.size).toBeGreaterThan(10)
  })
})
