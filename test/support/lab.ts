// The lab tier's shared pieces (test/lab): whether labs can be built here, a lab per test file
// whose teardown is checked, and the lab service's spec.
import { describe, expect } from 'vitest'
import { Lab, type LabOptions } from '../../scripts/lab/lab.js'
import { labSupport } from '../../scripts/lab/netns.js'
import { beatingCommand } from '../../scripts/lab/runs.js'

const support = await labSupport()

/**
 * `describe` where labs can be built (root, working `ip netns`); elsewhere the block is skipped
 * and its name says why, so a skipped tier is never mistaken for a passing one.
 */
export function describeLab(name: string, fn: () => void): void {
  if (support.ok) describe(name, fn)
  else describe.skip(`${name} [lab tier skipped: ${support.why}]`, fn)
}

/**
 * A new lab; its actions go to the test's output only when LAB_VERBOSE is set, and its run dir
 * (the agents' logs and data) is kept after the teardown when LAB_KEEP is set.
 */
export async function newLab(opts: LabOptions = {}): Promise<Lab> {
  return await Lab.create({ keep: process.env.LAB_KEEP !== undefined, ...opts, log: process.env.LAB_VERBOSE === undefined ? undefined : (l) => console.log(l) })
}

/** Tears the lab down and checks that nothing of it is left: no namespace, no process. */
export async function closeLab(lab: Lab | undefined): Promise<void> {
  if (lab === undefined) return
  const left = await lab.teardown()
  expect(left).toEqual({ namespaces: [], processes: [] })
}

/** A service whose runs record themselves (scripts/lab/runs.ts), `count` instances of `cpu` each. */
export function labService(name: string, count: number, cpu = 0.5, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, type: 'service', count, resources: { cpu, memoryMb: 16 }, command: beatingCommand(), ...extra }
}
