// What a partition heal did to a job's runs, from what really ran (runs.ts) and the job's record.
// The contract (section 4): once views agree an instance runs on exactly one node, duplicates are
// stopped and counted, and a heal stops only duplicates: a run nobody contested is never
// restarted by it. With the default reconcile policy (longest_running), the run of a contested
// instance that has run longest stays. Pure.
import { BEAT_MS, longestOverlapMs, type Run } from './runs.js'

/** A run named for reports: `index/attempt@host`. */
export function runName(r: { index: number; attempt: number; host: string }): string {
  return `${r.index}/${r.attempt}@${r.host}`
}

export interface HealInput {
  jobId: string
  count: number
  healAt: number
  /** When the cluster was seen settled (views agree, one live run per instance, records equal). */
  settledAt: number
  runs: readonly Run[]
  /** Allocation ids live at `settledAt`, per host (from the namespaces' processes). */
  live: ReadonlyMap<string, ReadonlySet<string>>
  /** The job's `duplicates` as an agent shows it after the heal. */
  duplicates: ReadonlyArray<{ index: number; attempt: number; nodeName: string; stoppedAt: string }>
  /** The sum over agents of murmur_duplicates_stopped_total's growth across the heal. */
  duplicatesCounted: number
}

export interface HealReport {
  /** Runs beating when the link came back. */
  runsAtHeal: string[]
  /** Instances with more than one run at the heal (both sides ran one). */
  contested: number[]
  /** The only run of an instance nobody else ran. */
  uncontested: string[]
  /** Runs at the heal that were stopped after it. */
  stoppedAtHeal: string[]
  /** Every run alive at or after the heal that is not alive any more (stoppedAtHeal and later ones). */
  stoppedSinceHeal: string[]
  /** Uncontested runs that the heal stopped (the contract says: none). */
  uncontestedStopped: string[]
  /** Runs started after the heal (with a working policy: none). */
  startedAfterHeal: string[]
  /** The job's duplicates recorded at or after the heal. */
  duplicatesRecorded: string[]
  duplicatesCounted: number
  /** Per contested instance, the one run that stayed (null: none or several) and the one that ran longest. */
  kept: Array<{ index: number; kept: string | null; longestRunning: string }>
  /** Live runs per instance after the heal. */
  livePerInstance: Record<number, string[]>
  highestAttempt: number
  /**
   * The longest time two runs of one instance ran at once (by their own beats), over the whole
   * job: with `stopAfterMs` a cut-off copy must stop itself, bounding this by it plus detection.
   */
  longestDuplicateMs: number
}

export function analyzeHeal(input: HealInput): HealReport {
  const mine = input.runs.filter((r) => r.jobId === input.jobId)
  // A run beats every BEAT_MS: one that was alive at the heal beat within two periods of it.
  const atHeal = mine.filter((r) => r.startedAt <= input.healAt && r.lastBeatAt >= input.healAt - 2 * BEAT_MS)
  const isLive = (r: Run): boolean => input.live.get(r.host)?.has(r.allocId) === true
  const byIndex = new Map<number, Run[]>()
  for (const r of atHeal) byIndex.set(r.index, [...byIndex.get(r.index) ?? [], r])
  const contested = [...byIndex.entries()].filter(([, rs]) => rs.length > 1).map(([i]) => i).sort((a, b) => a - b)
  const uncontested = [...byIndex.values()].filter((rs) => rs.length === 1).map((rs) => rs[0] as Run)
  const stopped = atHeal.filter((r) => !isLive(r))
  const livePerInstance: Record<number, string[]> = {}
  for (let i = 0; i < input.count; i++) livePerInstance[i] = mine.filter((r) => r.index === i && isLive(r)).map(runName)
  const kept = contested.map((index) => {
    const rs = byIndex.get(index) as Run[]
    const longest = rs.reduce((a, b) => (b.startedAt < a.startedAt ? b : a))
    // Kept: the one run of the instance still alive (none, or several, is no decision).
    const survivors = rs.filter(isLive)
    return { index, kept: survivors.length === 1 ? runName(survivors[0] as Run) : null, longestRunning: runName(longest) }
  })
  return {
    runsAtHeal: atHeal.map(runName),
    contested,
    uncontested: uncontested.map(runName),
    stoppedAtHeal: stopped.map(runName),
    stoppedSinceHeal: mine.filter((r) => r.lastBeatAt >= input.healAt - 2 * BEAT_MS && !isLive(r)).map(runName),
    uncontestedStopped: uncontested.filter((r) => !isLive(r)).map(runName),
    startedAfterHeal: mine.filter((r) => r.startedAt > input.healAt).map(runName),
    duplicatesRecorded: input.duplicates.filter((d) => Date.parse(d.stoppedAt) >= input.healAt).map((d) => runName({ ...d, host: d.nodeName })),
    duplicatesCounted: input.duplicatesCounted,
    kept,
    livePerInstance,
    highestAttempt: Math.max(0, ...mine.map((r) => r.attempt)),
    longestDuplicateMs: Math.round(Math.max(0, ...longestOverlapMs(mine, input.jobId, input.settledAt).values())),
  }
}

/** One promise of the contract checked on a heal report. */
export interface HealCheck { name: string; ok: boolean; detail: string }

/** The contract's promises about a heal, with the default policy (longest_running). */
export function healChecks(h: HealReport): HealCheck[] {
  const same = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && [...a].sort().every((x, i) => x === [...b].sort()[i])
  const extra = Object.entries(h.livePerInstance).filter(([, rs]) => rs.length !== 1)
  return [
    { name: 'one live run per instance', ok: extra.length === 0, detail: extra.map(([i, rs]) => `instance ${i}: ${rs.length} (${rs.join(' ')})`).join('; ') || 'yes' },
    { name: 'no uncontested run stopped', ok: h.uncontestedStopped.length === 0, detail: h.uncontestedStopped.join(' ') || 'none stopped' },
    { name: 'no run started by the heal', ok: h.startedAfterHeal.length === 0, detail: h.startedAfterHeal.join(' ') || 'none' },
    { name: 'stopped at the heal = duplicates recorded', ok: same(h.stoppedAtHeal, h.duplicatesRecorded), detail: `stopped [${h.stoppedAtHeal.join(' ')}], recorded [${h.duplicatesRecorded.join(' ')}]` },
    { name: 'duplicates counted in /metrics', ok: h.duplicatesCounted === h.duplicatesRecorded.length, detail: `${h.duplicatesCounted} counted, ${h.duplicatesRecorded.length} recorded` },
    { name: 'the longest-running run kept', ok: h.kept.every((k) => k.kept === k.longestRunning), detail: h.kept.map((k) => `instance ${k.index}: kept ${k.kept ?? 'none'}, longest ${k.longestRunning}`).join('; ') || 'no contested instance' },
  ]
}
