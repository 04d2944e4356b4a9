// The chaos report: every check run over what was recorded, assembled into one value (printed as
// JSON with --json) and its text form. Pure: buildReport is a function of the recorded data.
import { checkLost, checkOvercommit, checkSucceededRan, checkSuccessKept, findDuplicates, recoveryTimes, type Disagreement, type DuplicateRun, type FaultRecovery, type LostJob, type OvercommitEvent, type SucceededNeverRan, type TakenBack } from './checker.js'
import { replayCommand, type ChaosOptions } from './options.js'
import { summarize, type Summary } from './stats.js'
import type { AgentJobsView, AppliedFault, Capacity, EndKind, FaultKind, JobEvent, JobView, NegativeFree, PlannedFault, PlannedJob, Run, SkippedFault, SubmitOutcome } from './types.js'

/** How many examples of a figure the report lists. */
const EXAMPLES = 5

export interface ReportInput {
  options: ChaosOptions
  runDir: string
  kept: boolean
  /** Epoch ms: the chaos window's start (fault and submit offsets count from here). */
  t0: number
  timings: { startClusterMs: number; chaosMs: number; settleMs: number; totalMs: number }
  /** The machine's 1-minute load average at the start and the end (other work skews timings). */
  load: { start: number; end: number }
  schedule: PlannedFault[]
  workload: PlannedJob[]
  applied: AppliedFault[]
  skipped: SkippedFault[]
  submits: SubmitOutcome[]
  /** Every agent's final GET /v1/jobs (after the settle wait). */
  views: AgentJobsView[]
  runs: Run[]
  historyAnomalies: string[]
  historyBadLines: string[]
  capacity: Record<string, Capacity>
  negativeFree: NegativeFree[]
  /** Every agent's job events (GET /v1/events) as received. */
  jobEvents: JobEvent[]
  /** Peer id -> agent name. */
  names: Record<string, string>
  /** Problems of the run itself (an agent that would not restart...): shown, not failures. */
  warnings: string[]
}

export interface FaultLine {
  seq: number
  kind: FaultKind
  node: string
  /** ms from t0 */
  at: number
  delayedMs: number
  /** Fault -> restarted and ready (kill, term) or continued (stop). */
  downMs: number | null
  /** Fault -> seen alive again by every other up agent. */
  upMs: number | null
  detectMs: number | null
  affected: number
  recoveredMs: number | null
  note?: string
}

export interface ChaosReport {
  ok: boolean
  failures: string[]
  replay: string
  seed: number
  options: ChaosOptions
  maxDownRule: string
  runDir: string
  kept: boolean
  /** Epoch ms of the window's start; times in `faults` count from here. */
  t0: number
  timings: ReportInput['timings']
  load: ReportInput['load']
  counts: {
    faults: Record<FaultKind, number> & { skipped: number }
    jobs: { planned: number; batch: number; service: number; acked: number; notAcked: number; succeeded: number; failed: number; cancelled: number; other: number }
    submit: { failedTries: number; retriedJobs: number; gaveUp: number; lastAckMs: number | null; errors: Record<string, number> }
    runs: { total: number } & Record<EndKind, number>
  }
  invariants: {
    lost: LostJob[]
    succeededNeverRan: SucceededNeverRan[]
    overcommit: OvercommitEvent[]
    negativeFree: NegativeFree[]
    successTakenBack: TakenBack[]
  }
  duplicates: { acrossNodes: number; byCause: Record<string, number>; sameNode: number; examples: DuplicateRun[] }
  detection: Record<'kill' | 'stop' | 'term', Summary & { undetected: number }>
  recovery: Record<'kill' | 'stop' | 'term', Summary & { unrecovered: number }>
  faults: FaultLine[]
  skipped: SkippedFault[]
  schedule: PlannedFault[]
  disagreements: { count: number; examples: Disagreement[] }
  failedJobs: Array<{ id: string; reasons: string[] }>
  history: { anomalies: string[]; badLines: string[] }
  warnings: string[]
}

/** The final view of each job: the most advanced state any agent reports (terminal beats running). */
export function mergedJobs(views: AgentJobsView[]): Map<string, JobView> {
  const rank: Record<string, number> = { pending: 0, running: 1, cancelled: 2, failed: 2, succeeded: 2 }
  const out = new Map<string, JobView>()
  for (const v of views) {
    for (const j of v.jobs ?? []) {
      const cur = out.get(j.id)
      if (cur === undefined || (rank[j.state] ?? 0) > (rank[cur.state] ?? 0) ||
        ((rank[j.state] ?? 0) === (rank[cur.state] ?? 0) && j.allocations.length > cur.allocations.length)) out.set(j.id, j)
    }
  }
  return out
}

/** Submit errors grouped by what went wrong (the agent name and details dropped). */
function errorKinds(submits: SubmitOutcome[]): Record<string, number> {
  const kinds: Record<string, number> = {}
  for (const s of submits) {
    for (const e of s.errors) {
      const what = e.replace(/^\S+: /, '')
      const code = /"code":"([^"]+)"/.exec(what)?.[1]
      const k = code !== undefined ? `${what.slice(0, 8)} ${code}` : /timeout|aborted/i.test(what) ? 'timeout' : what.slice(0, 60)
      kinds[k] = (kinds[k] ?? 0) + 1
    }
  }
  return kinds
}

function byKind<T>(kinds: FaultKind[], make: (k: FaultKind) => T): Record<FaultKind, T> {
  return Object.fromEntries(kinds.map((k) => [k, make(k)])) as Record<FaultKind, T>
}

export function buildReport(input: ReportInput): ChaosReport {
  const { options, runs } = input
  const kinds: FaultKind[] = ['kill', 'stop', 'term']
  const plannedByKey = new Map(input.workload.map((j) => [j.key, j]))
  const resources = new Map<string, Capacity>()
  for (const s of input.submits) {
    const p = plannedByKey.get(s.key)
    if (s.id !== null && p !== undefined) resources.set(s.id, { cpu: p.cpu, memoryMb: p.memoryMb })
  }
  const jobs = mergedJobs(input.views)
  // Jobs that were never acked may exist anyway (a submit that timed out after storing); their
  // processes count against capacity too, so their sizes come from the views.
  for (const j of jobs.values()) if (!resources.has(j.id)) resources.set(j.id, j.spec.resources)

  const acked = input.submits.filter((s) => s.id !== null).map((s) => ({ id: s.id as string, type: s.type }))
  const { lost, disagreements } = checkLost(acked, input.views)
  const succeededNeverRan = checkSucceededRan(input.views, runs, (id) => input.names[id])
  const overcommit = checkOvercommit(runs, input.capacity, (id) => resources.get(id))
  const dups = findDuplicates(runs, input.applied)
  const recoveries = recoveryTimes(input.applied, runs, jobs)
  const batchIds = new Set([...jobs.values()].filter((j) => j.type === 'batch').map((j) => j.id))
  const takenBack = checkSuccessKept(input.jobEvents, runs, batchIds)

  const failures: string[] = []
  if (lost.length > 0) failures.push(`${lost.length} acked job(s) lost`)
  if (succeededNeverRan.length > 0) failures.push(`${succeededNeverRan.length} allocation(s) reported succeeded that never ran`)
  if (overcommit.length > 0) failures.push(`${overcommit.length} overcommit stretch(es) in the history`)
  if (input.negativeFree.length > 0) failures.push(`${input.negativeFree.length} sample(s) of negative free resources in /v1/nodes`)
  if (takenBack.length > 0) failures.push(`${new Set(takenBack.map((t) => t.jobId)).size} batch job(s) reported succeeded, then taken back (${takenBack.filter((t) => t.kind === 'regressed').length} views went back, ${takenBack.filter((t) => t.kind === 'ran again').length} runs started after the success)`)

  const recoveryOf = new Map<number, FaultRecovery>(recoveries.map((r) => [r.seq, r]))
  const faults: FaultLine[] = input.applied.map((f) => {
    const rec = recoveryOf.get(f.seq)
    const note = [
      f.note, rec?.note,
      rec !== undefined && rec.unrecovered.length > 0 ? `never replaced: ${rec.unrecovered.join(' ')}` : undefined,
      rec?.slowest === undefined || rec.affected < 2 ? undefined : `slowest ${rec.slowest}`,
      rec?.slowest === undefined || rec.affected !== 1 ? undefined : `instance ${rec.slowest}`,
    ].filter((x) => x !== undefined).join('; ')
    return {
      seq: f.seq, kind: f.kind, node: f.node, at: f.at - input.t0, delayedMs: f.at - f.plannedAt,
      downMs: f.backAt === null ? null : f.backAt - f.at, upMs: f.upAt === null ? null : f.upAt - f.at, detectMs: f.detectedAt === null ? null : f.detectedAt - f.at,
      affected: rec?.affected ?? 0, recoveredMs: rec?.recoveredMs ?? null,
      ...(note === '' ? {} : { note }),
    }
  })

  const states = [...jobs.values()].filter((j) => acked.some((a) => a.id === j.id))
  const countState = (s: string): number => states.filter((j) => j.state === s).length
  const byEnd = { end: 0, term: 0, reaped: 0, recorded: 0, open: 0 } as Record<EndKind, number>
  for (const r of runs) byEnd[r.endKind]++
  const byCause: Record<string, number> = {}
  for (const d of dups.acrossNodes) byCause[d.cause] = (byCause[d.cause] ?? 0) + 1

  return {
    ok: failures.length === 0,
    failures,
    replay: replayCommand(options),
    seed: options.seed,
    options,
    maxDownRule: `at most ${options.maxDown} of ${options.nodes} agents down or frozen at once (min(2, N-3) by default: a job is stored on 3 nodes and the contract promises no loss while fewer than 3 of them fail together, and 3 must stay up to store a new submit)`,
    runDir: input.runDir,
    kept: input.kept,
    t0: input.t0,
    timings: input.timings,
    load: input.load,
    counts: {
      faults: { ...byKind(kinds, (k) => input.applied.filter((f) => f.kind === k).length), skipped: input.skipped.length },
      jobs: {
        planned: input.workload.length,
        batch: input.workload.filter((j) => j.type === 'batch').length,
        service: input.workload.filter((j) => j.type === 'service').length,
        acked: acked.length,
        notAcked: input.submits.filter((s) => s.id === null).length,
        succeeded: countState('succeeded'), failed: countState('failed'), cancelled: countState('cancelled'),
        other: states.filter((j) => !['succeeded', 'failed', 'cancelled'].includes(j.state)).length,
      },
      submit: {
        failedTries: input.submits.reduce((n, s) => n + s.errors.length, 0),
        retriedJobs: input.submits.filter((s) => s.tries > 1).length,
        gaveUp: input.submits.filter((s) => s.id === null).length,
        lastAckMs: input.submits.reduce<number | null>((m, s) => (s.ackedAt === null ? m : Math.max(m ?? 0, s.ackedAt - input.t0)), null),
        errors: errorKinds(input.submits),
      },
      runs: { total: runs.length, ...byEnd },
    },
    invariants: { lost, succeededNeverRan, overcommit, negativeFree: input.negativeFree, successTakenBack: takenBack },
    duplicates: { acrossNodes: dups.acrossNodes.length, byCause, sameNode: dups.sameNode.length, examples: [...dups.acrossNodes.filter((d) => d.cause === 'none'), ...dups.acrossNodes.filter((d) => d.cause !== 'none')].slice(0, EXAMPLES) },
    detection: byKind(kinds, (k) => {
      const fs = input.applied.filter((f) => f.kind === k)
      return { ...summarize(fs.filter((f) => f.detectedAt !== null).map((f) => (f.detectedAt as number) - f.at)), undetected: fs.filter((f) => f.detectedAt === null).length }
    }),
    recovery: byKind(kinds, (k) => {
      const rs = recoveries.filter((r) => r.kind === k && r.note === undefined)
      return { ...summarize(rs.filter((r) => r.recoveredMs !== null).map((r) => r.recoveredMs as number)), unrecovered: rs.filter((r) => r.recoveredMs === null).length }
    }),
    faults,
    skipped: input.skipped,
    schedule: input.schedule,
    disagreements: { count: disagreements.length, examples: disagreements.slice(0, EXAMPLES) },
    failedJobs: states.filter((j) => j.state === 'failed').slice(0, EXAMPLES).map((j) => ({
      id: j.id, reasons: j.allocations.map((a) => `${a.index}.${a.attempt}@${a.nodeName} ${a.state}${a.exitCode === null ? '' : ` exit ${a.exitCode}`}${a.reason === undefined ? '' : ` (${a.reason})`}`),
    })),
    history: { anomalies: input.historyAnomalies.slice(0, 20), badLines: input.historyBadLines.slice(0, 20) },
    warnings: input.warnings,
  }
}

const ms = (x: number | null): string => (x === null ? '-' : `${Math.round(x)}`)
const summaryLine = (s: Summary): string => `n=${s.n} p50 ${ms(s.p50)} ms, p99 ${ms(s.p99)} ms, max ${ms(s.max)} ms`

export function formatReport(r: ChaosReport): string {
  const out: string[] = []
  const o = r.options
  out.push(`chaos: ${r.ok ? 'PASS' : 'FAIL'}  seed ${r.seed}, ${o.nodes} agents (--cpu ${o.cpu} --mem ${o.memoryMb}), ${o.jobs} jobs, ${o.seconds} s of faults`)
  out.push(`  ${r.maxDownRule}`)
  out.push(`  took: cluster start ${ms(r.timings.startClusterMs)} ms, chaos ${ms(r.timings.chaosMs)} ms, settle ${ms(r.timings.settleMs)} ms, total ${ms(r.timings.totalMs)} ms; load average ${r.load.start.toFixed(1)} -> ${r.load.end.toFixed(1)}`)
  const c = r.counts
  out.push(`faults: ${c.faults.kill} SIGKILL, ${c.faults.stop} SIGSTOP, ${c.faults.term} SIGTERM applied; ${c.faults.skipped} skipped`)
  out.push(`jobs: ${c.jobs.planned} planned (${c.jobs.batch} batch, ${c.jobs.service} service); ${c.jobs.acked} acked, ${c.jobs.notAcked} never acked; ` +
    `acked ended: ${c.jobs.succeeded} succeeded, ${c.jobs.failed} failed, ${c.jobs.cancelled} cancelled, ${c.jobs.other} other`)
  out.push(`submits: ${c.submit.failedTries} failed tries ${JSON.stringify(c.submit.errors)}, ${c.submit.retriedJobs} jobs needed a retry, ${c.submit.gaveUp} gave up; last ack at ${ms(c.submit.lastAckMs)} ms`)
  out.push(`runs in the history: ${c.runs.total} (ended: ${c.runs.end} completed, ${c.runs.term} stopped, ${c.runs.reaped} reaped at restart, ${c.runs.recorded} by the agent's record, ${c.runs.open} open)`)
  out.push('invariants:')
  const inv = r.invariants
  out.push(`  acked jobs lost ............................ ${inv.lost.length}`)
  for (const l of inv.lost.slice(0, EXAMPLES)) out.push(`    ${l.id} (${l.type}): ${l.why}; ${JSON.stringify(l.states)}`)
  out.push(`  reported succeeded but never ran ........... ${inv.succeededNeverRan.length}`)
  for (const s of inv.succeededNeverRan.slice(0, EXAMPLES)) out.push(`    ${s.allocId}: ${s.why} (said by ${s.reportedBy.join(',')})`)
  out.push(`  overcommit (history) ....................... ${inv.overcommit.length}`)
  for (const e of inv.overcommit.slice(0, EXAMPLES)) {
    out.push(`    ${e.node} ${e.from - r.t0}..${e.to - r.t0} ms: peak cpu ${e.peak.cpu}/${e.capacity.cpu}, mem ${e.peak.memoryMb}/${e.capacity.memoryMb}; ${e.allocs.join(' ')}`)
  }
  out.push(`  negative free in /v1/nodes ................. ${inv.negativeFree.length}`)
  for (const n of inv.negativeFree.slice(0, EXAMPLES)) out.push(`    ${n.observer} saw ${n.node} free cpu ${n.cpu}, mem ${n.memoryMb} at ${n.at - r.t0} ms`)
  out.push(`  succeeded, then taken back ................. ${inv.successTakenBack.length} (${new Set(inv.successTakenBack.map((t) => t.jobId)).size} jobs)`)
  for (const t of inv.successTakenBack.slice(0, 2 * EXAMPLES)) out.push(`    ${t.jobId} ${t.kind} at ${t.at - r.t0} ms (succeeded at ${t.succeededAt - r.t0} ms): ${t.detail}`)
  out.push(`duplicate concurrent runs (same instance, different nodes): ${r.duplicates.acrossNodes} ${JSON.stringify(r.duplicates.byCause)}; same node: ${r.duplicates.sameNode}`)
  out.push('  (expected after a fault: a SIGKILLed agent\'s processes outlive it and are reaped when it restarts; a frozen node\'s copies are stopped when it thaws)')
  for (const d of r.duplicates.examples) {
    const span = (x: { start: number; end: number }): string => `${x.start - r.t0}..${x.end - r.t0}`
    out.push(`    ${d.jobId}/${d.index}: ${d.first.allocId}@${d.first.node} ${span(d.first)} [${d.first.endKind}] and ${d.second.allocId}@${d.second.node} ${span(d.second)} [${d.second.endKind}] overlap ${d.overlapMs} ms; cause ${d.cause}${d.causeNode === undefined ? '' : ` on ${d.causeNode}`}`)
  }
  out.push('fault -> dead on every other live agent:')
  out.push(`  kill ${summaryLine(r.detection.kill)}; not detected ${r.detection.kill.undetected}`)
  out.push(`  stop ${summaryLine(r.detection.stop)}; continued before seen dead everywhere ${r.detection.stop.undetected}`)
  out.push(`  term ${summaryLine(r.detection.term)} (seen draining, left or dead); not detected ${r.detection.term.undetected}`)
  out.push('fault -> every instance that was running there runs again (or ended):')
  for (const k of ['kill', 'stop', 'term'] as const) out.push(`  ${k.padEnd(4)} ${summaryLine(r.recovery[k])}; never replaced ${r.recovery[k].unrecovered}`)
  out.push(`views that disagree at the end (a figure): ${r.disagreements.count}`)
  for (const d of r.disagreements.examples) out.push(`    ${d.id} ${JSON.stringify(d.states)}`)
  for (const f of r.failedJobs) out.push(`failed job ${f.id}: ${f.reasons.join('; ')}`)
  for (const a of r.history.anomalies.slice(0, EXAMPLES)) out.push(`history: ${a}`)
  for (const b of r.history.badLines.slice(0, EXAMPLES)) out.push(`history: unparsed line ${JSON.stringify(b)}`)
  for (const w of r.warnings) out.push(`warning: ${w}`)
  out.push('faults (ms from the start of the window):')
  out.push('  seq kind node     at      delay  detect back   up     affected recover  note')
  for (const f of r.faults) {
    out.push(`  ${String(f.seq).padEnd(3)} ${f.kind.padEnd(4)} ${f.node.padEnd(8)} ${String(f.at).padEnd(7)} ${String(f.delayedMs).padEnd(6)} ${ms(f.detectMs).padEnd(6)} ${ms(f.downMs).padEnd(6)} ${ms(f.upMs).padEnd(6)} ${String(f.affected).padEnd(8)} ${ms(f.recoveredMs).padEnd(8)} ${f.note ?? ''}`)
  }
  for (const s of r.skipped) out.push(`  skipped #${s.seq} ${s.kind} ${s.node}: ${s.reason}`)
  if (!r.ok) {
    out.push(`FAILED: ${r.failures.join('; ')}`)
    out.push(`replay: ${r.replay}`)
    out.push(`planned schedule: ${r.schedule.map((f) => `#${f.seq} ${f.kind} ${f.node} @${f.at}ms down ${f.downMs}ms`).join(', ')}`)
  }
  out.push(r.kept ? `run dir kept: ${r.runDir} (agents/<name> data dirs, logs/<name>.log agent stderr, history/<job id>)` : 'run dir removed (use --keep to keep it)')
  return out.join('\n')
}
