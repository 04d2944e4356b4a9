// Admission (src/core/admission.ts): the verdict a cell gives a movable submit from its view of
// its nodes, where only fresh figures count as room and old ones are asked first.
import { describe, expect, it } from 'vitest'
import { checkAdmission, type AdmitJob } from '../../src/core/admission.js'
import type { NodeView } from '../../src/placement/index.js'

const node = (id: string, cpu: number, free: number): NodeView => ({
  id, name: id, state: 'alive', draining: false, labels: {},
  total: { cpu, memoryMb: cpu * 2048 }, free: { cpu: free, memoryMb: free * 2048 },
})

const job = (cpu: number, spare = false): AdmitJob => ({ id: 'j', resources: { cpu, memoryMb: 512 }, constraints: [], count: 1, sample: 8, spare })

describe('admission', () => {
  it('admits on a fresh figure with room', () => {
    const views = [node('a', 4, 0), node('b', 4, 2)]
    expect(checkAdmission(job(1), views, () => true, 8)).toEqual({ verdict: 'admit' })
  })

  it('asks the old figures that had room first, then the others, at most `ask` of them', () => {
    // a, c, e were full when last heard; b and d had room. None is fresh.
    const views = [node('a', 4, 0), node('b', 4, 1), node('c', 4, 0), node('d', 8, 3), node('e', 4, 0)]
    expect(checkAdmission(job(1), views, () => false, 3)).toEqual({ verdict: 'ask', nodes: ['b', 'd', 'a'] })
    // An old figure too small for the job counts as full.
    expect(checkAdmission(job(2), views, () => false, 2)).toEqual({ verdict: 'ask', nodes: ['d', 'a'] })
  })

  it('refuses for lack of room once nothing is left to ask, saying so', () => {
    const views = [node('a', 4, 0), node('b', 4, 0.5)]
    const v = checkAdmission(job(1), views, () => true, 8)
    expect(v).toMatchObject({ verdict: 'refuse', why: 'no-room' })
    expect(checkAdmission(job(1), views, () => false, 0)).toMatchObject({ verdict: 'refuse', why: 'no-room' })
  })

  it('a crowded cell refuses a job that wants spare room at once, without asking', () => {
    // 0.75 of 16 cpu free (under SPARE), and every figure old.
    const views = [node('a', 8, 0.5), node('b', 8, 0.25)]
    expect(checkAdmission(job(0.25, true), views, () => false, 8)).toMatchObject({ verdict: 'refuse', why: 'crowded' })
    // The same job without the wish for spare room asks.
    expect(checkAdmission(job(0.25), views, () => false, 8)).toEqual({ verdict: 'ask', nodes: ['a', 'b'] })
  })

  it('no node that could ever run it: refused as infeasible', () => {
    expect(checkAdmission(job(16), [node('a', 4, 4)], () => true, 8)).toMatchObject({ verdict: 'refuse', why: 'infeasible' })
  })
})
