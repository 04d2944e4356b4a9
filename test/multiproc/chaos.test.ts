// A short seeded chaos run (`npm run chaos`, scripts/chaos) on four real agents: jobs submitted
// while agents are SIGKILLed, SIGSTOPped and restarted; afterwards no acked job is lost, nothing
// reported succeeded without having run, no node ran more than it declared, every SIGKILL was seen
// by the others, and no batch job reported succeeded was taken back. Seed 5 plans a SIGSTOP of n2
// and then a SIGKILL of n3 (one fault at a time: with four agents min(2, N-3) = 1).
import { beforeAll, describe, expect, it } from 'vitest'
import { parseChaosArgs } from '../../scripts/chaos/options.js'
import { formatReport, type ChaosReport } from '../../scripts/chaos/report.js'
import { runChaos } from '../../scripts/chaos/runner.js'

/** The run stops itself before the hook's own timeout, so it always cleans up its agents. */
const RUN_LIMIT_MS = 95_000

let report: ChaosReport
let aborted = false

beforeAll(async () => {
  const options = parseChaosArgs(['--nodes', '4', '--jobs', '30', '--seconds', '18', '--seed', '5', '--max-sleep-ms', '4000', '--settle', '40'], 0)
  const abort = new AbortController()
  const timer = setTimeout(() => abort.abort(), RUN_LIMIT_MS)
  const log: string[] = []
  try {
    report = await runChaos(options, { signal: abort.signal, log: (l) => log.push(l) })
  } finally {
    clearTimeout(timer)
  }
  aborted = abort.signal.aborted
  // The whole report when anything is off: it names the replay command and the kept run dir.
  if (!report.ok || aborted) console.error(`${log.join('\n')}\n${formatReport(report)}`)
}, RUN_LIMIT_MS + 20_000)

describe('chaos on real agents', () => {
  it('loses no acked job, reports no success that did not run, never overcommits, and sees every kill', () => {
    expect(aborted).toBe(false)
    expect(report.invariants.lost).toEqual([])
    expect(report.invariants.succeededNeverRan).toEqual([])
    expect(report.invariants.overcommit).toEqual([])
    expect(report.invariants.negativeFree).toEqual([])
    // The plan really ran: a kill happened and every kill was seen dead by the other agents.
    expect(report.counts.faults.kill).toBeGreaterThanOrEqual(1)
    expect(report.detection.kill.undetected).toBe(0)
    expect(report.counts.jobs.acked).toBeGreaterThanOrEqual(25)
    expect(report.counts.runs.total).toBeGreaterThanOrEqual(report.counts.jobs.acked)
  })

  it('never takes back a batch job it reported succeeded (no view goes back, no run starts after)', () => {
    // Chaos found this once: a restarted agent marked runs on nodes it did not know yet `lost`, and
    // `lost` outranked `succeeded` in the allocation merge. Both are fixed in src/core.
    expect(report.invariants.successTakenBack.slice(0, 10).map((t) => `${t.jobId} ${t.kind}: ${t.detail}`)).toEqual([])
  })
})
