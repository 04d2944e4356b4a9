// The index of who holds which job must answer exactly what walking the whole table answers (the
// walk the state exchange did before), in the table's order, through any interleaving of record
// changes (runners come and go), collected jobs and live-set changes (storing nodes move). A job
// is shared with a node when both hold it: a copy this node neither stores nor runs is shared
// with nobody (the others do not list it to us, so listing it to them made every exchange push
// it back).
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { HolderIndex } from '../../src/core/job-holders.js'
import type { AllocState, JobRecord } from '../../src/core/job-types.js'
import { isTerminalAlloc } from '../../src/core/job-merge.js'
import { topFor } from '../../src/core/replica-ranking.js'

const NODES = ['n0', 'n1', 'n2', 'n3', 'n4', 'n5', 'n6']
const SELF = 'n0'
const STATES: AllocState[] = ['claimed', 'running', 'lost', 'succeeded', 'failed', 'cancelled']

type Op =
  | { kind: 'set'; job: number; allocs: Array<{ node: number; state: number }> }
  | { kind: 'live'; down: number[] }
  | { kind: 'ask'; node: number }
  | { kind: 'drop'; job: number }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('set' as const), job: fc.integer({ min: 0, max: 5 }), allocs: fc.array(fc.record({ node: fc.integer({ min: 0, max: 6 }), state: fc.integer({ min: 0, max: 5 }) }), { maxLength: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('live' as const), down: fc.uniqueArray(fc.integer({ min: 1, max: 6 }), { maxLength: 3 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('ask' as const), node: fc.integer({ min: 1, max: 6 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('drop' as const), job: fc.integer({ min: 0, max: 5 }) }) },
)

function record(job: number, allocs: Array<{ node: number; state: number }>): JobRecord {
  const allocations: JobRecord['allocations'] = {}
  allocs.forEach((a, i) => {
    allocations[`0/${i}`] = { index: 0, attempt: i, nodeId: NODES[a.node] as string, nodeName: '', state: STATES[a.state] as AllocState, exitCode: null, startedAt: null, finishedAt: null }
  })
  return { id: `job-${job}`, spec: {} as JobRecord['spec'], submittedAt: job, cancelled: false, allocations, pendingReason: '', reasonVersion: 0 }
}

describe('job holders index', () => {
  it('answers what a walk of the table answers, in table order', () => {
    fc.assert(fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
      const jobs = new Map<string, JobRecord>()
      let version = 1
      let live = [...NODES]
      const replicaSet = (id: string): string[] => topFor(id, live, 3)
      const index = new HolderIndex({ self: SELF, jobs, replicaSet, liveVersion: () => version })
      const runsOn = (r: JobRecord, n: string): boolean => Object.values(r.allocations).some((a) => a.nodeId === n && !isTerminalAlloc(a.state))
      const holds = (n: string, r: JobRecord): boolean => replicaSet(r.id).includes(n) || runsOn(r, n)
      for (const op of ops) {
        if (op.kind === 'set') {
          const r = record(op.job, op.allocs)
          jobs.set(r.id, r)
          index.noteJob(r)
        } else if (op.kind === 'drop') {
          const id = `job-${op.job}`
          if (jobs.delete(id)) index.forget(id)
        } else if (op.kind === 'live') {
          live = NODES.filter((_, i) => !op.down.includes(i))
          version++
        } else {
          const node = NODES[op.node] as string
          expect(index.heldBy(node)).toEqual([...jobs.values()].filter((r) => holds(SELF, r) && holds(node, r)).map((r) => r.id))
          const peers = new Set<string>()
          for (const r of jobs.values()) {
            const set = replicaSet(r.id)
            if (set.includes(SELF)) for (const n of set) if (n !== SELF) peers.add(n)
          }
          expect(index.peers()).toEqual([...peers].sort())
          expect(index.leased()).toEqual([...jobs.values()].filter((r) => !replicaSet(r.id).includes(SELF) && runsOn(r, SELF)).map((r) => r.id))
          expect(index.stored()).toEqual([...jobs.values()].filter((r) => replicaSet(r.id).includes(SELF)).map((r) => r.id))
        }
      }
    }), { numRuns: 1000 })
  })
})
