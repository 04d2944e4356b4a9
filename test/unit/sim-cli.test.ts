// `npm run sim` is deterministic: the same seed prints byte-identical output, the invariants hold,
// and bad flags or fault specs fail with a one-line reason.
import { execFileSync } from 'node:child_process'
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runScenario, type ScenarioReport } from '../../src/sim/scenario.js'

const script = resolve(import.meta.dirname, '../../scripts/sim.ts')
const tsx = resolve(import.meta.dirname, '../../node_modules/.bin/tsx')
const sim = (args: string[]): string => execFileSync(tsx, [script, ...args], { encoding: 'utf8', timeout: 120_000, stdio: ['ignore', 'pipe', 'pipe'] })
const FLAGS = ['--nodes', '12', '--jobs', '40', '--rate', '8', '--job-ms', '1000', '--idle', '2', '--faults', 'kill:busiest@2s-6s,freeze:3@1s-3s']

describe('npm run sim', () => {
  it('prints the same report for the same seed, and no broken invariant', () => {
    const a = sim([...FLAGS, '--seed', '3', '--json'])
    expect(sim([...FLAGS, '--seed', '3', '--json'])).toBe(a)
    const report = JSON.parse(a) as ScenarioReport
    expect(report.workload.acked).toBeGreaterThan(30)
    expect(report.workload.unfinished).toBe(0)
    expect(report.invariants).toMatchObject({ lostAckedJobs: 0, duplicateRuns: 0, overcommit: 0 })
    expect(report.ok).toBe(true)
    expect(report.killRecovery.affected).toBeGreaterThan(0)
    expect(report.placement?.bestFit).toBeGreaterThan(0)
  })

  it('measures packing on a second thread and prints what one thread gives', () => {
    // The CLI runs the fill in a worker beside the workload; runScenario runs both here in turn.
    const cli = JSON.parse(sim([...FLAGS, '--seed', '4', '--json'])) as ScenarioReport
    const inline = runScenario({
      nodes: 12, jobs: 40, rate: 8, jobMs: 1000, idleMs: 2000, seed: 4, faults: 'kill:busiest@2s-6s,freeze:3@1s-3s',
      profile: 'lan', boot: 'warm', settleMs: 120_000, fill: true, links: {}, cells: 1, checkMessages: false,
    })
    expect(cli.placement?.placedTotal).toBeGreaterThan(0)
    expect(cli).toEqual(JSON.parse(JSON.stringify(inline)))
  })

  it('prints a readable report', () => {
    const text = sim(['--nodes', '5', '--jobs', '10', '--idle', '1', '--no-fill'])
    expect(text).toMatch(/^submit->start\s+p50 [\d.]+ ms, p99 [\d.]+ ms/m)
    expect(text).toMatch(/^invariants\s+lost acked jobs 0, duplicate runs 0/m)
    expect(text).toMatch(/^result\s+ok$/m)
  })

  it('rejects a bad flag or fault spec with a one-line reason and exit status 2', () => {
    const fails = (args: string[]): { status: number; stderr: string } => {
      try {
        sim(args)
        return { status: 0, stderr: '' }
      } catch (err) {
        const e = err as { status: number; stderr: string }
        return { status: e.status, stderr: e.stderr }
      }
    }
    expect(fails(['--nodes', 'many'])).toMatchObject({ status: 2, stderr: expect.stringMatching(/--nodes must be an integer >= 1/) })
    expect(fails(['--faults', 'freeze:2@5s'])).toMatchObject({ status: 2, stderr: expect.stringMatching(/--faults: fault 1 "freeze:2@5s": freeze needs a window/) })
    expect(fails(['--nodes', '3', '--faults', 'kill:4@1s'])).toMatchObject({ status: 2, stderr: expect.stringMatching(/there is no node 4 \(--nodes 3\)/) })
  })
})
