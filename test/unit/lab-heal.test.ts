// The lab's heal analysis (scripts/lab/heal.ts) on hand-made runs: what the contract says a heal
// may do, and what the core did when the lab first ran (every run restarted).
import { describe, expect, it } from 'vitest'
import { analyzeHeal, healChecks, type HealInput } from '../../scripts/lab/heal.js'
import type { Run } from '../../scripts/lab/runs.js'

const JOB = 'j-abc'
const HEAL = 10_000
const SETTLED = 15_000

function run(host: string, index: number, attempt: number, startedAt: number, lastBeatAt: number): Run {
  return { host, allocId: `${JOB}.${index}.${attempt}`, jobId: JOB, index, attempt, startedAt, lastBeatAt }
}

function input(runs: Run[], live: Record<string, string[]>, duplicates: Array<[string, number, number, number]>, counted: number): HealInput {
  return {
    jobId: JOB, count: 3, healAt: HEAL, settledAt: SETTLED, runs,
    live: new Map(Object.entries(live).map(([h, ids]) => [h, new Set(ids.map((i) => `${JOB}.${i}`))])),
    duplicates: duplicates.map(([nodeName, index, attempt, at]) => ({ nodeName, index, attempt, stoppedAt: new Date(at).toISOString() })),
    duplicatesCounted: counted,
  }
}

const failed = (h: ReturnType<typeof analyzeHeal>): string[] => healChecks(h).filter((c) => !c.ok).map((c) => c.name)

describe('analyzeHeal', () => {
  it('a heal by the contract: the longest-running run of each contested instance stays, nothing else is touched', () => {
    const h = analyzeHeal(input([
      run('h1', 0, 1, 0, SETTLED), run('h3', 0, 2, 5_000, 10_500),
      run('h2', 1, 1, 0, SETTLED),
      run('h3', 2, 1, 0, SETTLED), run('h1', 2, 2, 5_000, 10_400),
      // ended long before the cut: not a run at the heal
      run('h2', 1, 0, -5_000, 1_000),
    ], { h1: ['0.1'], h2: ['1.1'], h3: ['2.1'] }, [['h3', 0, 2, 10_300], ['h1', 2, 2, 10_200], ['h9', 1, 0, 500]], 2))
    expect(h.runsAtHeal).toEqual(['0/1@h1', '0/2@h3', '1/1@h2', '2/1@h3', '2/2@h1'])
    expect(h.contested).toEqual([0, 2])
    expect(h.uncontested).toEqual(['1/1@h2'])
    expect(h.stoppedAtHeal).toEqual(['0/2@h3', '2/2@h1'])
    expect(h.startedAfterHeal).toEqual([])
    expect(h.duplicatesRecorded).toEqual(['0/2@h3', '2/2@h1'])
    expect(h.kept).toEqual([{ index: 0, kept: '0/1@h1', longestRunning: '0/1@h1' }, { index: 2, kept: '2/1@h3', longestRunning: '2/1@h3' }])
    expect(h.longestDuplicateMs).toBe(5_500)
    expect(failed(h)).toEqual([])
  })

  it('the heal the lab found: every run stopped, uncontested ones too, and new attempts started', () => {
    const h = analyzeHeal(input([
      run('h1', 0, 1, 0, 10_300), run('h2', 1, 1, 0, 10_300), run('h3', 2, 1, 0, 10_300), run('h1', 2, 2, 5_000, 10_400),
      run('h2', 0, 2, 10_600, SETTLED), run('h1', 1, 2, 10_600, SETTLED), run('h1', 2, 3, 10_700, SETTLED),
    ], { h1: ['1.2', '2.3'], h2: ['0.2'] }, [['h1', 0, 1, 10_200], ['h2', 1, 1, 10_200], ['h3', 2, 1, 10_200], ['h1', 2, 2, 10_300]], 4))
    expect(h.uncontestedStopped).toEqual(['0/1@h1', '1/1@h2'])
    expect(h.startedAfterHeal).toEqual(['0/2@h2', '1/2@h1', '2/3@h1'])
    expect(h.highestAttempt).toBe(3)
    expect(failed(h)).toEqual(['no uncontested run stopped', 'no run started by the heal', 'the longest-running run kept'])
  })

  it('two live runs of one instance, a stop not recorded, and a count that disagrees all fail', () => {
    const h = analyzeHeal(input([
      run('h1', 0, 1, 0, SETTLED), run('h3', 0, 2, 5_000, SETTLED), run('h2', 1, 1, 0, 10_300), run('h3', 2, 1, 0, SETTLED),
    ], { h1: ['0.1'], h3: ['0.2', '2.1'] }, [], 1))
    expect(h.livePerInstance).toEqual({ 0: ['0/1@h1', '0/2@h3'], 1: [], 2: ['2/1@h3'] })
    expect(failed(h)).toEqual(['one live run per instance', 'no uncontested run stopped', 'stopped at the heal = duplicates recorded', 'duplicates counted in /metrics', 'the longest-running run kept'])
  })
})
