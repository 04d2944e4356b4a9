// The chaos history: parsing the lines job processes append, and pairing them into runs with a
// justified end when a process wrote no end line (its agent was SIGKILLed, or it was SIGKILLed).
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { JOB_SCRIPT, buildRuns, nodeFromAllocDir, parseHistory, type RunContext } from '../../scripts/chaos/history.js'

const dir = (node: string, alloc: string): string => `/tmp/murmur-chaos-x/agents/${node}/allocs/${alloc}`
const line = (kind: string, alloc: string, at: number, pid: number, node: string): string => `${kind} ${alloc} ${at} ${pid} ${dir(node, alloc)}`
const ctx = (over: Partial<RunContext> = {}): RunContext => ({ starts: [], recordedEnd: () => null, until: 100_000, ...over })

describe('chaos history parsing', () => {
  it('reads kind, allocation, time, pid and the node from the allocation dir', () => {
    const { lines, bad } = parseHistory([
      line('start', 'j-ab.0.1', 1000, 42, 'n2'),
      line('end', 'j-ab.0.1', 3000, 42, 'n2'),
      'garbage',
      'start j-ab.0.1 12 42 /not/an/alloc/dir/x',
      '',
    ].join('\n'))
    expect(lines).toEqual([
      { kind: 'start', allocId: 'j-ab.0.1', jobId: 'j-ab', index: 0, attempt: 1, at: 1000, pid: 42, node: 'n2' },
      { kind: 'end', allocId: 'j-ab.0.1', jobId: 'j-ab', index: 0, attempt: 1, at: 3000, pid: 42, node: 'n2' },
    ])
    expect(bad).toEqual(['garbage', 'start j-ab.0.1 12 42 /not/an/alloc/dir/x'])
  })

  it('keeps dots inside a job id', () => {
    const { lines } = parseHistory(line('term', 'j.x.y.3.12', 5, 7, 'n1'))
    expect(lines[0]).toMatchObject({ jobId: 'j.x.y', index: 3, attempt: 12, kind: 'term' })
    expect(nodeFromAllocDir('/a/b/n9/allocs/j.0.1')).toBe('n9')
    expect(nodeFromAllocDir('/a/b/n9/other/j.0.1')).toBeUndefined()
  })

  it('the job script writes a start and an end line, and a term line when stopped', () => {
    const h = mkdtempSync(join(tmpdir(), 'chaos-hist-'))
    try {
      const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', CHAOS_HISTORY: h, CHAOS_SLEEP: '0.05', MURMUR_JOB_ID: 'j-t', MURMUR_ALLOC_ID: 'j-t.0.1', MURMUR_ALLOC_DIR: '/r/n1/allocs/j-t.0.1' }
      execFileSync('sh', ['-c', JOB_SCRIPT], { env, timeout: 5_000 })
      const { lines, bad } = parseHistory(readFileSync(join(h, 'j-t'), 'utf8'))
      expect(bad).toEqual([])
      expect(lines.map((l) => [l.kind, l.node, l.allocId])).toEqual([['start', 'n1', 'j-t.0.1'], ['end', 'n1', 'j-t.0.1']])
      expect(lines[1]!.at).toBeGreaterThanOrEqual(lines[0]!.at + 40)
      // Stopped: SIGTERM to the shell (it kills its sleep and records the stop).
      const t = execFileSync('sh', ['-c', `sh -c '${JOB_SCRIPT.replace(/'/g, "'\\''")}' & p=$!; sleep 0.3; kill -TERM $p; wait $p; echo $?`], {
        env: { ...env, CHAOS_SLEEP: '30', MURMUR_ALLOC_ID: 'j-t.0.2' }, timeout: 10_000,
      }).toString().trim()
      expect(t).toBe('143')
      const again = parseHistory(readFileSync(join(h, 'j-t'), 'utf8')).lines.filter((l) => l.allocId === 'j-t.0.2')
      expect(again.map((l) => l.kind)).toEqual(['start', 'term'])
    } finally {
      rmSync(h, { recursive: true, force: true })
    }
  })
})

describe('chaos runs from history lines', () => {
  it('pairs start and end lines by node, allocation and pid', () => {
    const { lines } = parseHistory([
      line('start', 'j.0.1', 100, 1, 'n1'),
      line('start', 'j.0.1', 150, 9, 'n2'), // the same allocation id on another node: its own run
      line('end', 'j.0.1', 900, 1, 'n1'),
      line('term', 'j.0.1', 400, 9, 'n2'),
    ].join('\n'))
    const { runs, anomalies } = buildRuns(lines, ctx())
    expect(anomalies).toEqual([])
    expect(runs.map((r) => [r.node, r.start, r.end, r.endKind])).toEqual([['n1', 100, 900, 'end'], ['n2', 150, 400, 'term']])
  })

  it('ends a run whose agent restarted at the restart\'s reap time, not at the later natural end', () => {
    const { lines } = parseHistory(line('start', 'j.0.1', 100, 1, 'n1'))
    const { runs } = buildRuns(lines, ctx({ starts: [{ node: 'n1', spawnAt: 0, reapedAt: 10 }, { node: 'n1', spawnAt: 5_000, reapedAt: 7_000 }] }))
    expect(runs[0]).toMatchObject({ end: 7_000, endKind: 'reaped' })
  })

  it('prefers the agent\'s own record of the end when it came before any restart', () => {
    const { lines } = parseHistory(line('start', 'j.0.1', 100, 1, 'n1'))
    const recordedEnd = (alloc: string, node: string): number | null => (alloc === 'j.0.1' && node === 'n1' ? 2_000 : null)
    expect(buildRuns(lines, ctx({ recordedEnd })).runs[0]).toMatchObject({ end: 2_000, endKind: 'recorded' })
    const withRestart = ctx({ recordedEnd, starts: [{ node: 'n1', spawnAt: 1_000, reapedAt: 3_000 }] })
    expect(buildRuns(lines, withRestart).runs[0]).toMatchObject({ end: 2_000, endKind: 'recorded' })
    // A record after the reap is not the process's end (e.g. another node marking it lost later).
    const late = ctx({ recordedEnd: () => 9_000, starts: [{ node: 'n1', spawnAt: 1_000, reapedAt: 3_000 }] })
    expect(buildRuns(lines, late).runs[0]).toMatchObject({ end: 3_000, endKind: 'reaped' })
  })

  it('leaves a run with nothing known open until the history was read', () => {
    const { lines } = parseHistory(line('start', 'j.0.1', 100, 1, 'n1'))
    expect(buildRuns(lines, ctx({ until: 50_000 })).runs[0]).toMatchObject({ end: 50_000, endKind: 'open' })
  })

  it('reports an end without a start and a start written twice', () => {
    const { lines } = parseHistory([
      line('term', 'j.0.1', 100, 1, 'n1'),
      line('start', 'j.0.2', 200, 2, 'n1'),
      line('start', 'j.0.2', 300, 2, 'n1'),
    ].join('\n'))
    const { runs, anomalies } = buildRuns(lines, ctx())
    expect(runs).toHaveLength(2)
    expect(anomalies).toHaveLength(2)
    expect(anomalies[0]).toMatch(/term without a start: j.0.1/)
    expect(anomalies[1]).toMatch(/start written twice: j.0.2/)
  })
})
