// The storing nodes of a job: the cached top-k selection must be exactly the head of the full
// rendezvous ranking, for any live set, and follow the live set when its version changes.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { rankFor, ReplicaRanking, topFor } from '../../src/core/replica-ranking.js'

const idsArb = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 5 }), { maxLength: 30 })

describe('replica ranking', () => {
  it('topFor(k) is the first k of the full ranking, whatever the order of the ids', () => {
    fc.assert(fc.property(fc.string(), idsArb, fc.integer({ min: 1, max: 6 }), (job, ids, k) => {
      expect(topFor(job, ids, k)).toEqual(rankFor(job, ids).slice(0, k))
      expect(topFor(job, [...ids].reverse(), k)).toEqual(topFor(job, ids, k))
    }), { numRuns: 1000 })
  })

  it('recomputes when the live version changes, and only then', () => {
    const r = new ReplicaRanking(3)
    let live = ['a', 'b', 'c', 'd', 'e']
    let calls = 0
    const ids = (): string[] => { calls++; return live }
    const first = r.top('job-1', 1, ids)
    expect(first).toEqual(rankFor('job-1', live).slice(0, 3))
    expect(r.top('job-2', 1, ids)).toEqual(rankFor('job-2', live).slice(0, 3))
    expect(calls).toBe(1)
    live = live.filter((x) => x !== first[0])
    expect(r.top('job-1', 2, ids)).toEqual(rankFor('job-1', live).slice(0, 3))
    expect(r.top('job-1', 2, ids)).not.toContain(first[0])
    expect(r.all('job-1', 2, ids)).toEqual(rankFor('job-1', live))
    expect(calls).toBe(2)
  })
})
