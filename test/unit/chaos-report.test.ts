// The chaos report: a clean run passes; each broken invariant fails it, and the text says how to
// replay (the exact command with the seed, the fault schedule, the kept run dir).
import { describe, expect, it } from 'vitest'
import { parseChaosArgs } from '../../scripts/chaos/options.js'
import { buildReport, formatReport, mergedJobs, type ReportInput } from '../../scripts/chaos/report.js'
import type { JobView, Run } from '../../scripts/chaos/types.js'

const T0 = 1_000_000
const options = parseChaosArgs(['--nodes', '4', '--jobs', '2', '--seconds', '10', '--seed', '42'], 0)

function job(id: string, state: string, node: string, allocState = state): JobView {
  return {
    id, type: 'batch', state, spec: { count: 1, resources: { cpu: 1, memoryMb: 256 } },
    allocations: [{ index: 0, attempt: 1, nodeId: `p-${node}`, nodeName: node, state: allocState, exitCode: 0, startedAt: null, finishedAt: new Date(T0 + 3_000).toISOString() }],
  }
}
const run = (node: string, allocId: string, start: number, end: number): Run => {
  const [jobId, index, attempt] = allocId.split('.')
  return { node, allocId, jobId: jobId!, index: Number(index), attempt: Number(attempt), pid: 1, start, end, endKind: 'end' }
}

function input(over: Partial<ReportInput> = {}): ReportInput {
  return {
    options, runDir: '/tmp/murmur-chaos-test', kept: false, t0: T0,
    timings: { startClusterMs: 1, chaosMs: 2, settleMs: 3, totalMs: 6 }, load: { start: 0.5, end: 1 },
    schedule: [{ seq: 1, at: 2_000, kind: 'kill', node: 'n2', downMs: 3_000 }],
    workload: [
      { seq: 0, key: 'k0', at: 0, via: 0, type: 'batch', count: 1, cpu: 1, memoryMb: 256, sleepMs: 1000 },
      { seq: 1, key: 'k1', at: 10, via: 1, type: 'batch', count: 1, cpu: 1, memoryMb: 256, sleepMs: 1000 },
    ],
    applied: [{ seq: 1, kind: 'kill', node: 'n2', plannedAt: T0 + 2_000, at: T0 + 2_000, backAt: T0 + 5_000, upAt: T0 + 6_000, detectedAt: T0 + 3_300 }],
    skipped: [],
    submits: [
      { seq: 0, key: 'k0', type: 'batch', id: 'a', ackedAt: T0, tries: 1, errors: [] },
      { seq: 1, key: 'k1', type: 'batch', id: 'b', ackedAt: T0, tries: 2, errors: ['n2: HTTP 503'] },
    ],
    views: [{ agent: 'n1', jobs: [job('a', 'succeeded', 'n1'), job('b', 'succeeded', 'n3')] }, { agent: 'n3', jobs: [job('a', 'succeeded', 'n1'), job('b', 'succeeded', 'n3')] }],
    runs: [run('n1', 'a.0.1', T0 + 100, T0 + 1_100), run('n3', 'b.0.1', T0 + 200, T0 + 1_200)],
    historyAnomalies: [], historyBadLines: [],
    capacity: { n1: { cpu: 2, memoryMb: 2048 }, n2: { cpu: 2, memoryMb: 2048 }, n3: { cpu: 2, memoryMb: 2048 } },
    negativeFree: [], jobEvents: [], names: { 'p-n1': 'n1', 'p-n3': 'n3' }, warnings: [],
    ...over,
  }
}

describe('chaos report', () => {
  it('passes a clean run and gives the figures', () => {
    const r = buildReport(input())
    expect(r.ok).toBe(true)
    expect(r.failures).toEqual([])
    expect(r.counts.jobs).toMatchObject({ acked: 2, succeeded: 2, notAcked: 0 })
    expect(r.counts.submit).toEqual({ failedTries: 1, retriedJobs: 1, gaveUp: 0, lastAckMs: 0, errors: { 'HTTP 503': 1 } })
    expect(r.detection.kill).toMatchObject({ n: 1, p50: 1_300, undetected: 0 })
    expect(r.faults[0]).toMatchObject({ seq: 1, at: 2_000, detectMs: 1_300, downMs: 3_000, upMs: 4_000, affected: 0 })
    const text = formatReport(r)
    expect(text).toMatch(/^chaos: PASS {2}seed 42/)
    expect(text).not.toMatch(/replay:/)
  })

  it('fails on overcommit, a lost job, a success that never ran and negative free, and says how to replay', () => {
    const r = buildReport(input({
      // Three 1-cpu runs on n1, a 2-cpu node, overlap from 500 to 900 ms.
      runs: [run('n1', 'a.0.1', T0 + 100, T0 + 1_100), run('n1', 'c.0.1', T0 + 100, T0 + 1_100), run('n1', 'd.0.1', T0 + 500, T0 + 900)],
      workload: [...input().workload, { seq: 2, key: 'k2', at: 0, via: 0, type: 'batch', count: 1, cpu: 1, memoryMb: 256, sleepMs: 1 }, { seq: 3, key: 'k3', at: 0, via: 0, type: 'batch', count: 1, cpu: 1, memoryMb: 256, sleepMs: 1 }],
      submits: [...input().submits, { seq: 2, key: 'k2', type: 'batch', id: 'c', ackedAt: T0, tries: 1, errors: [] }, { seq: 3, key: 'k3', type: 'batch', id: 'd', ackedAt: T0, tries: 1, errors: [] }],
      views: [{ agent: 'n1', jobs: [job('a', 'succeeded', 'n1'), job('b', 'succeeded', 'n3'), job('d', 'running', 'n1')] }],
      negativeFree: [{ at: T0 + 5, observer: 'n1', node: 'n3', cpu: -1, memoryMb: 0 }],
      kept: true,
    }))
    expect(r.ok).toBe(false)
    expect(r.invariants.lost.map((l) => [l.id, l.why])).toEqual([['c', 'not found on any live agent'], ['d', 'never terminal by the settle deadline']])
    expect(r.invariants.succeededNeverRan.map((s) => s.allocId)).toEqual(['b.0.1'])
    expect(r.invariants.overcommit).toMatchObject([{ node: 'n1', from: T0 + 500, to: T0 + 900, peak: { cpu: 3 } }])
    expect(r.failures).toHaveLength(4)
    const text = formatReport(r)
    expect(text).toMatch(/^chaos: FAIL/)
    expect(text).toContain('replay: npm run chaos -- --nodes 4 --jobs 2 --seconds 10 --seed 42 --keep')
    expect(text).toContain('planned schedule: #1 kill n2 @2000ms down 3000ms')
    expect(text).toContain('run dir kept: /tmp/murmur-chaos-test')
    expect(text).toContain('n1 500..900 ms: peak cpu 3/2')
  })

  it('merges views: a terminal state beats a running one', () => {
    const m = mergedJobs([{ agent: 'n1', jobs: [job('a', 'running', 'n1')] }, { agent: 'n2', jobs: [job('a', 'succeeded', 'n1')] }, { agent: 'n3', jobs: null }])
    expect(m.get('a')?.state).toBe('succeeded')
  })
})
