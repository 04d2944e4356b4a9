// The `npm run lab` report: what the run measured, which promises held, and its text form.
// Pure: built from what scenario.ts recorded.
import type { HealCheck, HealReport } from './heal.js'
import type { LabAction } from './lab.js'
import type { LabRunOptions } from './options.js'
import type { Leftovers } from './teardown.js'

/** The issue's goals for joining by mDNS (figures, not invariants: a busy machine may miss them). */
export const JOIN_GOAL_MS = 3_000

export interface CutFigures {
  victim: string
  /** The failure detector's bound for this cluster, and for the cut host's own view (bounds.ts). */
  boundMs: number
  victimBoundMs: number
  /** Per other host: cut -> it saw the victim dead (null: not within the wait). */
  detectMs: Record<string, number | null>
  /** Cut -> the victim saw every other host dead. */
  victimSeesGoneMs: number | null
  /** Cut -> the victim's instance ran again on the other side (by its process). */
  replacedMs: number | null
}

export interface HealFigures {
  /** Link up -> every host sees every host alive. */
  viewsAgreeMs: number
  /** Link up -> one run per instance, equal records everywhere (unchanged for a while since). */
  settledMs: number
  report: HealReport
  checks: HealCheck[]
}

export interface LabReport {
  ok: boolean
  failures: string[]
  prefix: string
  runDir: string
  kept: boolean
  options: LabRunOptions
  /** The machine's 1-minute load average at the start and the end (other work skews timings). */
  load: { start: number; end: number }
  join: { hosts: string[]; readyMs: Record<string, number>; mdnsJoinMs: number }
  late: Array<{ host: string; joinMs: number }>
  cut: CutFigures | null
  heal: HealFigures | null
  /** The step that could not finish, if one could not. */
  error?: string
  leftovers: Leftovers
  totalMs: number
  actions: LabAction[]
}

/** The failures: every broken invariant (goals are shown, not failed). */
export function failuresOf(r: Omit<LabReport, 'ok' | 'failures'>): string[] {
  const out: string[] = []
  if (r.error !== undefined) out.push(`the run could not finish: ${r.error}`)
  if (r.cut !== null) {
    for (const [o, ms] of Object.entries(r.cut.detectMs)) {
      if (ms === null || ms > r.cut.boundMs) out.push(`${o} saw ${r.cut.victim} dead ${ms === null ? 'never' : `after ${ms} ms`} (bound ${r.cut.boundMs} ms)`)
    }
    const v = r.cut.victimSeesGoneMs
    if (v === null || v > r.cut.victimBoundMs) out.push(`${r.cut.victim} saw the others dead ${v === null ? 'never' : `after ${v} ms`} while cut off (bound ${r.cut.victimBoundMs} ms)`)
    if (r.cut.replacedMs === null) out.push(`${r.cut.victim}'s instance was not placed again on the other side`)
  }
  if (r.heal !== null) for (const c of r.heal.checks) if (!c.ok) out.push(`heal: ${c.name}: ${c.detail}`)
  if (r.leftovers.namespaces.length > 0 || r.leftovers.processes.length > 0) {
    out.push(`left behind: namespaces [${r.leftovers.namespaces.join(' ')}], pids [${r.leftovers.processes.join(' ')}]`)
  }
  return out
}

const ms = (v: number | null): string => (v === null ? '-' : `${(v / 1000).toFixed(2)} s`)
const goal = (v: number): string => (v <= JOIN_GOAL_MS ? `goal <= ${JOIN_GOAL_MS / 1000} s met` : `goal <= ${JOIN_GOAL_MS / 1000} s MISSED`)

export function formatReport(r: LabReport): string {
  const lines: string[] = []
  const o = r.options
  lines.push(`murmur lab ${r.prefix}: ${o.hosts} hosts + ${o.late} late, profile ${o.profile}, cut ${o.cutMs} ms, load ${r.load.start.toFixed(2)} -> ${r.load.end.toFixed(2)}, ${ms(r.totalMs)} in all`)
  lines.push('')
  lines.push(`join by mDNS (no --join): ${r.join.hosts.join(', ')} ready after ${Object.entries(r.join.readyMs).map(([h, v]) => `${h} ${ms(v)}`).join(', ')}`)
  lines.push(`  last ready -> all see ${r.join.hosts.length} alive: ${ms(r.join.mdnsJoinMs)} (${goal(r.join.mdnsJoinMs)})`)
  for (const l of r.late) lines.push(`  ${l.host} started later: ready -> all see it alive: ${ms(l.joinMs)} (${goal(l.joinMs)})`)
  if (r.cut !== null) {
    const c = r.cut
    lines.push('')
    lines.push(`cut ${c.victim} off (link down both ways), failure-detector bound ${ms(c.boundMs)} (${ms(c.victimBoundMs)} for ${c.victim} itself):`)
    lines.push(`  seen dead by ${Object.entries(c.detectMs).map(([h, v]) => `${h} after ${ms(v)}`).join(', ')}`)
    lines.push(`  ${c.victim} saw every other host dead after ${ms(c.victimSeesGoneMs)}`)
    lines.push(`  its instance ran again on the other side after ${ms(c.replacedMs)}`)
  }
  if (r.heal !== null) {
    const h = r.heal.report
    lines.push('')
    lines.push(`heal (link up): views agree after ${ms(r.heal.viewsAgreeMs)}, settled after ${ms(r.heal.settledMs)}`)
    lines.push(`  runs at the heal: ${h.runsAtHeal.join(' ')}`)
    lines.push(`  contested instances: ${h.contested.join(' ') || 'none'}; uncontested runs: ${h.uncontested.join(' ') || 'none'}`)
    lines.push(`  stopped at the heal: ${h.stoppedAtHeal.length} [${h.stoppedAtHeal.join(' ')}]; started by the heal: ${h.startedAfterHeal.length} [${h.startedAfterHeal.join(' ')}]`)
    lines.push(`  duplicates recorded: ${h.duplicatesRecorded.length} [${h.duplicatesRecorded.join(' ')}], counted in /metrics: ${h.duplicatesCounted}; highest attempt ${h.highestAttempt}`)
    lines.push(`  longest time two runs of one instance ran at once: ${ms(h.longestDuplicateMs)}`)
    for (const c of r.heal.checks) lines.push(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`)
  }
  lines.push('')
  lines.push(`teardown: ${r.leftovers.namespaces.length + r.leftovers.processes.length === 0 ? 'nothing left behind' : `LEFT namespaces [${r.leftovers.namespaces.join(' ')}] pids [${r.leftovers.processes.join(' ')}]`}${r.kept ? `; run dir kept: ${r.runDir}` : ''}`)
  lines.push(r.ok ? 'every invariant held' : `FAILED:\n${r.failures.map((f) => `  - ${f}`).join('\n')}`)
  return lines.join('\n')
}
