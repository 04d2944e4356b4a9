// The lab's pure parts: run and host names, `ip netns list` parsing, which namespaces are the
// leftovers of a dead owner, flags, the failure detector's bound, allocation ids and overlaps.
import { describe, expect, it } from 'vitest'
import { detectionBoundMs, isolatedBoundMs } from '../../scripts/lab/bounds.js'
import { hostNames, leftoverRuns, parseNetnsList, runNames } from '../../scripts/lab/names.js'
import { parseLabArgs } from '../../scripts/lab/options.js'
import { longestOverlapMs, parseAllocId, type Run } from '../../scripts/lab/runs.js'

describe('lab names', () => {
  it('puts the owner pid and a tag in every namespace name', () => {
    const run = runNames(4242, 'beef')
    expect(run).toEqual({ prefix: 'mlab-4242-beef', ownerPid: 4242, switchNs: 'mlab-4242-beef-sw' })
    expect(hostNames(run, 3)).toEqual({ index: 3, name: 'h3', ns: 'mlab-4242-beef-h3', addr: '10.77.0.3', port: 'v3' })
    expect(() => runNames(1, 'xyz!')).toThrow(/hex/)
    expect(() => hostNames(run, 0)).toThrow(/1-250/)
    expect(() => hostNames(run, 251)).toThrow(/1-250/)
  })

  it('parses ip netns list, with and without ids', () => {
    expect(parseNetnsList('mlab-1-beef-h1 (id: 3)\nmlab-1-beef-sw\n\nother\n')).toEqual(['mlab-1-beef-h1', 'mlab-1-beef-sw', 'other'])
  })

  it('sweeps only the labs whose owner is gone, hosts before the switch, and nothing else', () => {
    const names = ['mlab-10-beef-sw', 'mlab-10-beef-h2', 'mlab-10-beef-h1', 'mlab-20-cafe-h1', 'mlab-20-cafe-sw', 'lab', 'h1', 'mlab-probe-30', 'mlab-x-beef-h1']
    expect(leftoverRuns(names, (pid) => pid === 20)).toEqual([{ prefix: 'mlab-10-beef', namespaces: ['mlab-10-beef-h1', 'mlab-10-beef-h2', 'mlab-10-beef-sw'] }])
    expect(leftoverRuns(names, () => true)).toEqual([])
  })
})

describe('lab flags', () => {
  it('has the issue scenario as defaults', () => {
    expect(parseLabArgs([])).toMatchObject({ hosts: 3, late: 1, cutMs: 8_000, cpu: 2, victimCpu: 2, jobCpu: 0.5, profile: 'lan', json: false, keep: false, hold: false, sweep: false })
    expect(parseLabArgs(['--disconnect', '{"stopAfterMs":5000}']).disconnect).toEqual({ stopAfterMs: 5000 })
  })

  it('refuses bad values, naming the flag', () => {
    expect(() => parseLabArgs(['--hosts', '1'])).toThrow(/--hosts/)
    expect(() => parseLabArgs(['--cut-ms', 'soon'])).toThrow(/--cut-ms/)
    expect(() => parseLabArgs(['--victim-cpu', '0.2'])).toThrow(/--job-cpu must fit/)
    expect(() => parseLabArgs(['--disconnect', '{'])).toThrow(/--disconnect must be JSON/)
    expect(() => parseLabArgs(['--profile', 'wan'])).toThrow(/--profile/)
    expect(() => parseLabArgs(['--nope'])).toThrow()
  })
})

describe('the failure detector bound', () => {
  it('is probe rounds of every member, then the longest suspicion, stretched by local health', () => {
    // 2 x 500 ms to reach the cut host, a 1 s round, 2.5 s of suspicion, two 100 ms ticks
    expect(detectionBoundMs('lan', 3)).toBe(4_700)
    expect(detectionBoundMs('lan', 3, 1)).toBe(6_700)
    expect(isolatedBoundMs('lan', 3)).toBe(6_700)
    expect(detectionBoundMs('test', 5)).toBe(5_700)
  })
})

describe('runs', () => {
  it('parses allocation ids whose job id has dots', () => {
    expect(parseAllocId('j-1.2.3.4')).toEqual({ jobId: 'j-1.2', index: 3, attempt: 4 })
    expect(parseAllocId('nonsense')).toBeUndefined()
  })

  it('measures the longest time two runs of one instance ran at once', () => {
    const r = (index: number, attempt: number, startedAt: number, lastBeatAt: number): Run => ({ host: 'h1', allocId: `j.${index}.${attempt}`, jobId: 'j', index, attempt, startedAt, lastBeatAt })
    // instance 0: 1 s of overlap; instance 1: the second still beats, so it runs until now
    const m = longestOverlapMs([r(0, 1, 0, 3_000), r(0, 2, 2_000, 9_000), r(1, 1, 0, 10_000), r(1, 2, 4_000, 9_999)], 'j', 10_000)
    expect(m).toEqual(new Map([[0, 1_000], [1, 6_000]]))
  })
})
