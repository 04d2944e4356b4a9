// placeInstances (spreading several instances in one pass) and the offline best-fit packer.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { nodeView } from '../support/placement-fixtures.js'
import { bestFitDecreasing, longestPackedPrefix, placeInstances, type NodeView, type PlacementJob } from '../../src/placement/index.js'

const node = (id: string, patch: Partial<NodeView> = {}): NodeView => nodeView(id, patch)

function job(cpu: number, memoryMb: number, id = 'job'): PlacementJob {
  return { id, resources: { cpu, memoryMb }, constraints: [] }
}

const instanceKeys = (id: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${id}/${i}/1`)

/** Alive nodes with unique ids and random free capacity (cpu in tenths, like real declarations). */
const clusterArb: fc.Arbitrary<NodeView[]> = fc
  .uniqueArray(fc.string({ minLength: 1, maxLength: 4 }), { minLength: 0, maxLength: 8 })
  .chain((ids) =>
    fc.tuple(
      ...ids.map((id) =>
        fc.record({ cpuTenths: fc.integer({ min: 0, max: 40 }), mem: fc.integer({ min: 0, max: 4096 }), draining: fc.integer({ min: 0, max: 6 }) })
          .map(({ cpuTenths, mem, draining }) => node(id, { free: { cpu: cpuTenths / 10, memoryMb: mem }, draining: draining === 0 })),
      ),
    ),
  )

/** Nodes of few distinct sizes (many exact ties in leftover capacity, broken by id). */
const twinsArb: fc.Arbitrary<NodeView[]> = fc
  .uniqueArray(fc.string({ minLength: 1, maxLength: 4 }), { minLength: 0, maxLength: 12 })
  .chain((ids) => fc.tuple(...ids.map((id) =>
    fc.record({ cpu: fc.constantFrom(1, 2, 4), mem: fc.constantFrom(1024, 2048) }).map(({ cpu, mem }) => node(id, { free: { cpu, memoryMb: mem } })))))

const jobArb: fc.Arbitrary<PlacementJob> = fc
  .record({ cpuTenths: fc.integer({ min: 1, max: 20 }), mem: fc.integer({ min: 16, max: 2048 }), id: fc.string({ maxLength: 6 }) })
  .map(({ cpuTenths, mem, id }) => job(cpuTenths / 10, mem, id))

describe('placeInstances', () => {
  it('never assigns more than a node has free, in total over the call', () => {
    fc.assert(
      fc.property(jobArb, fc.integer({ min: 0, max: 30 }), clusterArb, (j, count, nodes) => {
        const result = placeInstances(j, count, instanceKeys(j.id, count), nodes)
        const used = new Map<string, { cpu: number; memoryMb: number }>()
        for (const inst of result.instances) {
          const chosen = inst.candidates[0]
          if (!chosen) continue
          const u = used.get(chosen.nodeId) ?? { cpu: 0, memoryMb: 0 }
          used.set(chosen.nodeId, { cpu: u.cpu + j.resources.cpu, memoryMb: u.memoryMb + j.resources.memoryMb })
        }
        for (const n of nodes) {
          const u = used.get(n.id)
          if (!u) continue
          expect(u.cpu).toBeLessThanOrEqual(n.free.cpu + 1e-6)
          expect(u.memoryMb).toBeLessThanOrEqual(n.free.memoryMb + 1e-6)
        }
        expect(result.placed).toBe(result.instances.filter((i) => i.candidates.length > 0).length)
      }),
      { numRuns: 300 },
    )
  })

  it('spreads: no node gets a second instance while another feasible node has none', () => {
    fc.assert(
      fc.property(jobArb, fc.integer({ min: 1, max: 20 }), clusterArb, (j, count, nodes) => {
        const result = placeInstances(j, count, instanceKeys(j.id, count), nodes)
        for (const inst of result.instances) {
          if (!inst.colocated) continue
          // Colocated only when every candidate already holds an instance.
          const before = new Set(result.instances.slice(0, inst.index).map((i) => i.candidates[0]?.nodeId))
          for (const c of inst.candidates) expect(before.has(c.nodeId)).toBe(true)
        }
      }),
      { numRuns: 300 },
    )
  })

  it('does not modify the caller\'s node views and is deterministic', () => {
    fc.assert(
      fc.property(jobArb, fc.integer({ min: 0, max: 10 }), clusterArb, (j, count, nodes) => {
        const copy = structuredClone(nodes)
        const a = placeInstances(j, count, instanceKeys(j.id, count), nodes)
        expect(nodes).toEqual(copy)
        expect(placeInstances(j, count, instanceKeys(j.id, count), [...nodes].reverse())).toEqual(a)
      }),
    )
  })

  it('puts 3 instances on 3 different nodes of 5 and keeps 3 fallbacks each', () => {
    const nodes = ['a', 'b', 'c', 'd', 'e'].map((id) => node(id))
    const result = placeInstances(job(1, 512), 3, instanceKeys('web', 3), nodes)
    expect(result.placed).toBe(3)
    expect(new Set(result.instances.map((i) => i.candidates[0]?.nodeId)).size).toBe(3)
    for (const inst of result.instances) {
      expect(inst.candidates).toHaveLength(3)
      expect(inst.colocated).toBe(false)
    }
  })

  it('reuses a node only when no other fits, and says so', () => {
    const nodes = [node('a'), node('b', { free: { cpu: 1, memoryMb: 4096 } })]
    const result = placeInstances(job(1, 512), 4, instanceKeys('web', 4), nodes)
    const chosen = result.instances.map((i) => i.candidates[0]?.nodeId)
    expect(new Set(chosen.slice(0, 2))).toEqual(new Set(['a', 'b']))
    // b is full after one instance, so the rest go to a, colocated.
    expect(chosen.slice(2)).toEqual(['a', 'a'])
    expect(result.instances.map((i) => i.colocated)).toEqual([false, false, true, true])
  })

  it('leaves instances pending with a reason once capacity runs out', () => {
    const nodes = [node('a', { free: { cpu: 2, memoryMb: 4096 } })]
    const result = placeInstances(job(1, 512), 3, instanceKeys('web', 3), nodes)
    expect(result.placed).toBe(2)
    const last = result.instances[2]!
    expect(last.candidates).toEqual([])
    expect(last.pendingReason).toBe('1 node lacks cpu: need 1 cpu, most free 0 cpu on a')
  })

  it('treats nodes from earlier placements (occupied) as last resort, and honours hard exclusions', () => {
    const nodes = [node('a'), node('b'), node('c')]
    const result = placeInstances(job(1, 512), 2, instanceKeys('web', 2), nodes, { occupied: new Set(['a']), exclude: new Set(['c']), topK: 5 })
    expect(result.instances[0]?.candidates.map((c) => c.nodeId)).toEqual(['b', 'a'])
    // Both remaining nodes now hold an instance, so score order alone decides.
    expect(new Set(result.instances[1]?.candidates.map((c) => c.nodeId))).toEqual(new Set(['a', 'b']))
    expect(result.instances[1]?.colocated).toBe(true)
    expect(result.instances[0]?.rejected.map((r) => r.reason)).toEqual(['excluded'])
  })

  it('honours topK', () => {
    const nodes = ['a', 'b', 'c', 'd'].map((id) => node(id))
    expect(placeInstances(job(1, 64), 1, ['k'], nodes, { topK: 1 }).instances[0]?.candidates).toHaveLength(1)
    expect(placeInstances(job(1, 64), 1, ['k'], nodes, { topK: 10 }).instances[0]?.candidates).toHaveLength(4)
  })

  it('rejects a call with fewer keys than instances', () => {
    expect(() => placeInstances(job(1, 64), 2, ['only-one'], [node('a')])).toThrow(RangeError)
    expect(() => placeInstances(job(1, 64), -1, [], [node('a')])).toThrow(RangeError)
  })
})

describe('bestFitDecreasing', () => {
  it('packs a perfectly fitting set that first-come placement could strand', () => {
    // Two 3-cpu nodes; jobs 2,2,1,1. Placing 1s first could split them and strand a 2; BFD fits all.
    const nodes = [node('a', { free: { cpu: 3, memoryMb: 4096 } }), node('b', { free: { cpu: 3, memoryMb: 4096 } })]
    const jobs = [job(1, 64, 'j1'), job(1, 64, 'j2'), job(2, 64, 'j3'), job(2, 64, 'j4')]
    const result = bestFitDecreasing(jobs, nodes)
    expect(result.placed).toBe(4)
    expect(result.unplaced).toEqual([])
    expect(result.assignments.map((a) => a.jobId).slice(0, 2).sort()).toEqual(['j3', 'j4'])
  })

  it('chooses the tightest feasible node', () => {
    const nodes = [node('roomy', { free: { cpu: 8, memoryMb: 8192 } }), node('tight', { free: { cpu: 1, memoryMb: 600 } })]
    expect(bestFitDecreasing([job(1, 512, 'j')], nodes).assignments).toEqual([{ jobId: 'j', nodeId: 'tight' }])
  })

  it('applies the same feasibility filters as online placement', () => {
    const nodes = [node('dead', { state: 'dead' }), node('drain', { draining: true }), node('ok', { free: { cpu: 1, memoryMb: 1024 } })]
    const result = bestFitDecreasing([job(1, 512, 'x'), job(1, 512, 'y')], nodes)
    expect(result.placed).toBe(1)
    expect(result.assignments[0]?.nodeId).toBe('ok')
    expect(result.unplaced).toHaveLength(1)
  })

  it('never overcommits and accounts for every job', () => {
    const uniqueJobs = fc.array(jobArb, { maxLength: 30 }).map((js) => js.map((j, i) => ({ ...j, id: `j${i}` })))
    fc.assert(
      fc.property(uniqueJobs, clusterArb, (jobs, nodes) => {
        const result = bestFitDecreasing(jobs, nodes)
        expect(result.placed + result.unplaced.length).toBe(jobs.length)
        expect(result.assignments).toHaveLength(result.placed)
        const jobById = new Map(jobs.map((j) => [j.id, j]))
        const used = new Map<string, { cpu: number; memoryMb: number }>()
        for (const a of result.assignments) {
          const need = jobById.get(a.jobId)!.resources
          const u = used.get(a.nodeId) ?? { cpu: 0, memoryMb: 0 }
          used.set(a.nodeId, { cpu: u.cpu + need.cpu, memoryMb: u.memoryMb + need.memoryMb })
        }
        for (const n of nodes) {
          const u = used.get(n.id)
          if (!u) continue
          expect(n.state === 'alive' && !n.draining).toBe(true)
          expect(u.cpu).toBeLessThanOrEqual(n.free.cpu + 1e-6)
          expect(u.memoryMb).toBeLessThanOrEqual(n.free.memoryMb + 1e-6)
        }
      }),
    )
  })

  it('packs unconstrained jobs exactly as the general loop does', () => {
    // A constraint every node meets sends the same jobs down the general loop (every node checked).
    const anywhere = { label: 'murmur-test-never-set', op: '!=' as const, value: 'x' }
    const uniqueJobs = fc.array(jobArb, { maxLength: 40 }).map((js) => js.map((j, i) => ({ ...j, id: `j${i}` })))
    fc.assert(
      fc.property(uniqueJobs, fc.oneof(clusterArb, twinsArb), (jobs, nodes) => {
        const fast = bestFitDecreasing(jobs, nodes)
        const general = bestFitDecreasing(jobs.map((j) => ({ ...j, constraints: [anywhere] })), nodes)
        expect(fast).toEqual(general)
      }),
      { numRuns: 500 },
    )
  })

  it('longestPackedPrefix: the binary search over bestFitDecreasing of each prefix, sorted once', () => {
    const naive = (jobs: PlacementJob[], nodes: NodeView[]): number => {
      let lo = 0
      let hi = jobs.length
      while (lo < hi) {
        const mid = Math.ceil((lo + hi) / 2)
        if (bestFitDecreasing(jobs.slice(0, mid), nodes).placed === mid) lo = mid
        else hi = mid - 1
      }
      return lo
    }
    const uniqueJobs = fc.array(jobArb, { maxLength: 60 }).map((js) => js.map((j, i) => ({ ...j, id: `j${i}` })))
    fc.assert(
      fc.property(uniqueJobs, fc.oneof(clusterArb, twinsArb), (jobs, nodes) => {
        expect(longestPackedPrefix(jobs, nodes)).toBe(naive(jobs, nodes))
      }),
      { numRuns: 500 },
    )
  })

  it('places at least as many jobs as spreading them online, on equal-job workloads', () => {
    fc.assert(
      fc.property(jobArb, fc.integer({ min: 0, max: 30 }), clusterArb, (j, count, nodes) => {
        const online = placeInstances(j, count, instanceKeys(j.id, count), nodes).placed
        const jobs = Array.from({ length: count }, (_, i) => ({ ...j, id: `${j.id}#${i}` }))
        expect(bestFitDecreasing(jobs, nodes).placed).toBeGreaterThanOrEqual(online)
      }),
    )
  })
})
