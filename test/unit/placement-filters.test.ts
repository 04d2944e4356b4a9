// Feasibility filters, constraint operators, admits and pendingReason text: table-driven.
import { describe, expect, it } from 'vitest'
import { nodeView } from '../support/placement-fixtures.js'
import {
  admits,
  parseList,
  pendingReason,
  rankNodes,
  satisfies,
  type Constraint,
  type FilterReason,
  type NodeView,
  type PlacementJob,
} from '../../src/placement/index.js'

const node = (id: string, patch: Partial<NodeView> = {}): NodeView => nodeView(id, patch)

function job(patch: Partial<PlacementJob> = {}): PlacementJob {
  return { id: 'job-1', resources: { cpu: 0.5, memoryMb: 512 }, constraints: [], ...patch }
}

describe('admits', () => {
  it.each([
    [{ cpu: 1, memoryMb: 512 }, { cpu: 1, memoryMb: 512 }, true, 'exact fit'],
    [{ cpu: 0.3, memoryMb: 64 }, { cpu: 0.1 + 0.2, memoryMb: 64 }, true, '0.1 + 0.2 cpu fits in 0.3'],
    [{ cpu: 0.1 + 0.2 - 0.3, memoryMb: 64 }, { cpu: 0, memoryMb: 64 }, true, 'float dust left over counts as zero'],
    [{ cpu: 0.29, memoryMb: 64 }, { cpu: 0.3, memoryMb: 64 }, false, 'real cpu shortfall'],
    [{ cpu: 1, memoryMb: 511 }, { cpu: 1, memoryMb: 512 }, false, 'one megabyte short'],
    [{ cpu: Number.NaN, memoryMb: 512 }, { cpu: 0.1, memoryMb: 64 }, false, 'NaN free never fits'],
    [{ cpu: -0.1, memoryMb: 512 }, { cpu: 0.1, memoryMb: 64 }, false, 'overcommitted node'],
  ])('admits(%j, %j) = %s (%s)', (free, need, expected) => {
    expect(admits(free, need)).toBe(expected)
  })
})

describe('constraints', () => {
  const c = (label: string, op: Constraint['op'], value: string): Constraint => ({ label, op, value })
  it.each<[Constraint, Record<string, string>, boolean]>([
    [c('zone', '=', 'a'), { zone: 'a' }, true],
    [c('zone', '=', 'a'), { zone: 'b' }, false],
    [c('zone', '=', 'a'), {}, false],
    [c('zone', '!=', 'a'), { zone: 'a' }, false],
    [c('zone', '!=', 'a'), { zone: 'b' }, true],
    [c('zone', '!=', 'a'), {}, true],
    [c('zone', 'in', 'a,b'), { zone: 'b' }, true],
    [c('zone', 'in', 'a, b'), { zone: 'b' }, true],
    [c('zone', 'in', 'a,b'), { zone: 'c' }, false],
    [c('zone', 'in', 'a,b'), {}, false],
    [c('zone', 'in', 'a,,'), { zone: '' }, false],
    [c('zone', 'not_in', 'a,b'), { zone: 'a' }, false],
    [c('zone', 'not_in', 'a,b'), { zone: 'c' }, true],
    [c('zone', 'not_in', 'a,b'), {}, true],
    [c('zone', '=', ''), { zone: '' }, true],
    [c('toString', '=', 'x'), {}, false],
    [c('toString', '!=', 'x'), {}, true],
    [{ label: 'zone', op: '~' as Constraint['op'], value: 'a' }, { zone: 'a' }, false],
  ])('%j on %j -> %s', (constraint, labels, expected) => {
    expect(satisfies(constraint, labels)).toBe(expected)
  })

  it('parses lists by trimming and dropping empty items', () => {
    expect(parseList(' a, b ,,c,')).toEqual(['a', 'b', 'c'])
  })
})

describe('filter reasons and details', () => {
  it.each<[string, Partial<NodeView>, Partial<PlacementJob>, FilterReason, string]>([
    ['suspect', { state: 'suspect' }, {}, 'not-alive', 'node is suspect'],
    ['dead', { state: 'dead' }, {}, 'not-alive', 'node is dead'],
    ['left', { state: 'left' }, {}, 'not-alive', 'node is left'],
    ['draining', { draining: true }, {}, 'draining', 'node is draining'],
    ['label mismatch', { labels: { zone: 'b' } }, { constraints: [{ label: 'zone', op: '=', value: 'a' }] }, 'constraint', 'needs zone = a, has zone=b'],
    ['missing label (=)', {}, { constraints: [{ label: 'zone', op: '=', value: 'a' }] }, 'constraint', 'needs zone = a, has no zone label'],
    ['missing label (in)', {}, { constraints: [{ label: 'zone', op: 'in', value: 'a,b' }] }, 'constraint', 'needs zone in a,b, has no zone label'],
    ['not_in hit', { labels: { zone: 'a' } }, { constraints: [{ label: 'zone', op: 'not_in', value: 'a,b' }] }, 'constraint', 'needs zone not_in a,b, has zone=a'],
    ['cpu', { free: { cpu: 0.25, memoryMb: 4096 } }, {}, 'cpu', 'needs 0.5 cpu, has 0.25 free'],
    ['memory', { free: { cpu: 4, memoryMb: 256 } }, {}, 'memory', 'needs 512 MB, has 256 MB free'],
    ['float cpu prints rounded', { free: { cpu: 0.1 + 0.2, memoryMb: 4096 } }, { resources: { cpu: 0.5, memoryMb: 64 } }, 'cpu', 'needs 0.5 cpu, has 0.3 free'],
  ])('%s', (_name, patch, jobPatch, reason, detail) => {
    const result = rankNodes(job(jobPatch), 'k', [node('n1', patch)])
    expect(result.candidates).toEqual([])
    expect(result.rejected).toEqual([expect.objectContaining({ nodeId: 'n1', name: 'n1', reason, detail })])
  })

  it('records only the first failing filter, in pipeline order', () => {
    const everythingWrong = node('n1', { state: 'dead', draining: true, free: { cpu: 0, memoryMb: 0 } })
    expect(rankNodes(job(), 'k', [everythingWrong], { exclude: new Set(['n1']) }).rejected.map((r) => r.reason)).toEqual(['not-alive'])
    const noRoom = node('n1', { free: { cpu: 0, memoryMb: 0 } })
    expect(rankNodes(job(), 'k', [noRoom]).rejected.map((r) => r.reason)).toEqual(['cpu'])
  })

  it('checks constraints in job order and reports the first that fails', () => {
    const j = job({ constraints: [{ label: 'zone', op: '=', value: 'a' }, { label: 'disk', op: '=', value: 'ssd' }] })
    const [r] = rankNodes(j, 'k', [node('n1', { labels: { zone: 'a' } })]).rejected
    expect(r?.detail).toBe('needs disk = ssd, has no disk label')
    expect(r?.constraint).toEqual({ label: 'disk', op: '=', value: 'ssd' })
  })

  it('excludes with the default or a caller-given detail', () => {
    const nodes = [node('n1'), node('n2')]
    const r1 = rankNodes(job(), 'k', nodes, { exclude: new Set(['n1']) })
    expect(r1.candidates.map((c) => c.nodeId)).toEqual(['n2'])
    expect(r1.rejected).toEqual([expect.objectContaining({ nodeId: 'n1', reason: 'excluded', detail: 'already holds an instance of this job' })])
    const r2 = rankNodes(job(), 'k', nodes, { exclude: new Set(['n2']), excludeDetail: 'lost this allocation before' })
    expect(r2.rejected[0]?.detail).toBe('lost this allocation before')
  })

  it('accepts a node with exactly the free capacity the job needs', () => {
    const r = rankNodes(job(), 'k', [node('n1', { free: { cpu: 0.5, memoryMb: 512 } })])
    expect(r.candidates.map((c) => c.nodeId)).toEqual(['n1'])
    expect(r.pendingReason).toBeUndefined()
  })
})

describe('pendingReason', () => {
  const need512 = job({ resources: { cpu: 0.5, memoryMb: 512 } })

  it.each<[string, NodeView[], PlacementJob, string]>([
    ['no nodes at all', [], need512, 'no alive nodes known'],
    [
      'the brief example',
      [
        node('n1', { free: { cpu: 4, memoryMb: 128 } }),
        node('n2', { free: { cpu: 4, memoryMb: 256 } }),
        node('n3', { free: { cpu: 4, memoryMb: 100 } }),
        node('n4', { draining: true }),
      ],
      need512,
      '3 nodes lack memory: need 512 MB, most free 256 MB on n2; 1 node draining',
    ],
    [
      'one node short of cpu, named by its name',
      [node('peer-xyz', { name: 'worker-1', free: { cpu: 0.2, memoryMb: 4096 } })],
      need512,
      '1 node lacks cpu: need 0.5 cpu, most free 0.2 cpu on worker-1',
    ],
    [
      'nearest miss ties go to the smaller id',
      [node('n2', { free: { cpu: 0.2, memoryMb: 4096 } }), node('n1', { free: { cpu: 0.2, memoryMb: 4096 } })],
      need512,
      '2 nodes lack cpu: need 0.5 cpu, most free 0.2 cpu on n1',
    ],
    [
      'not alive, broken down by state',
      [node('n1', { state: 'dead' }), node('n2', { state: 'suspect' }), node('n3', { state: 'dead' })],
      need512,
      '3 nodes not alive (2 dead, 1 suspect)',
    ],
    [
      'one failing constraint',
      [node('n1', { labels: { zone: 'b' } }), node('n2')],
      job({ constraints: [{ label: 'zone', op: '=', value: 'a' }] }),
      '2 nodes fail constraint zone = a',
    ],
    [
      'several failing constraints, most common first',
      [node('n1', { labels: { zone: 'b' } }), node('n2'), node('n3', { labels: { zone: 'a' } })],
      job({ constraints: [{ label: 'zone', op: '=', value: 'a' }, { label: 'gpu', op: 'in', value: 'a100,h100' }] }),
      '3 nodes fail constraints: zone = a (2), gpu in a100,h100 (1)',
    ],
    [
      'groups of equal size keep pipeline order',
      [node('n1', { draining: true }), node('n2', { state: 'dead' }), node('n3', { free: { cpu: 4, memoryMb: 10 } })],
      need512,
      '1 node not alive (1 dead); 1 node draining; 1 node lacks memory: need 512 MB, most free 10 MB on n3',
    ],
  ])('%s', (_name, nodes, j, expected) => {
    const result = rankNodes(j, 'k', nodes)
    expect(result.pendingReason).toBe(expected)
    expect(pendingReason(j, result)).toBe(expected)
  })

  it('mentions exclusions with their detail', () => {
    const result = rankNodes(need512, 'k', [node('n1'), node('n2')], { exclude: new Set(['n1', 'n2']) })
    expect(result.pendingReason).toBe('2 nodes already hold an instance of this job')
    const custom = rankNodes(need512, 'k', [node('n1')], { exclude: new Set(['n1']), excludeDetail: 'lost it before' })
    expect(custom.pendingReason).toBe('1 node excluded (lost it before)')
  })

  it('is undefined when some node can take the job', () => {
    const result = rankNodes(need512, 'k', [node('n1'), node('n2', { draining: true })])
    expect(result.pendingReason).toBeUndefined()
    expect(pendingReason(need512, result)).toBeUndefined()
  })
})
