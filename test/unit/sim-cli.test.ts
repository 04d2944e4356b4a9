// `npm run sim` is deterministic: the same seed prints byte-identical output, and the invariants hold.
import { execFileSync } from 'node:child_process'
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'

const script = resolve(import.meta.dirname, '../../scripts/sim.ts')
const tsx = resolve(import.meta.dirname, '../../node_modules/.bin/tsx')
const run = (seed: number): string => execFileSync(tsx, [script, '--nodes', '12', '--jobs', '60', '--seed', String(seed), '--kill', '1', '--json'], { encoding: 'utf8', timeout: 60_000 })

describe('npm run sim', () => {
  it('prints the same report for the same seed, and no broken invariant', () => {
    const a = run(3)
    expect(run(3)).toBe(a)
    const report = JSON.parse(a) as { succeeded: number; invariants: { duplicateRuns: number; overcommit: number } }
    expect(report.succeeded).toBe(60)
    expect(report.invariants).toEqual({ duplicateRuns: 0, overcommit: 0 })
  })

  it('rejects a bad flag with a one-line reason', () => {
    expect(() => execFileSync(tsx, [script, '--nodes', 'many'], { encoding: 'utf8', stdio: 'pipe' })).toThrow(/--nodes must be a non-negative integer/)
  })
})
