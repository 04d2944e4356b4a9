// From the runner's figures to results.json (the contract's keys first, medians over runs, and
// each figure's spread) and the markdown table: each figure, its spread, its goal and met/missed.
// Pure: the machine description comes in as an argument.
import type { BenchOptions } from './options.js'
import type { BenchResults } from './runner.js'
import { round, type Figure } from './stats.js'

/** The join sizes the contract names; always present in the JSON, null when not measured. */
const CONTRACT_SIZES = ['3', '10', '30', '50']

export interface Machine { cores: number; cpuModel: string; node: string; platform: string; date: string; commit: string; loadAverage: number[] }

interface Goal {
  /** Figure name in the runner's flat naming. */
  figure: string
  label: string
  unit: string
  /** The bound, and which side of it meets the goal; `of` makes it relative to another figure. */
  op: '<=' | '>='
  bound: number
  of?: { figure: string; label: string }
}

/** The goals of issue 19 (5 agents on this machine), plus the README's SIGSTOP goal. */
export const GOALS: Goal[] = [
  { figure: 'throughputJobsPerSec', label: 'throughput (trivial jobs, 8 submitters, to completion)', unit: 'jobs/s', op: '>=', bound: 0.5, of: { figure: 'bareSpawnPerSec', label: 'bare spawn' } },
  { figure: 'submitToStartMs.p50', label: 'submit -> process start p50, one at a time', unit: 'ms', op: '<=', bound: 5 },
  { figure: 'submitToStartMs.p99', label: 'submit -> process start p99, one at a time', unit: 'ms', op: '<=', bound: 50 },
  { figure: 'submitToStartLoadedMs.p99', label: 'submit -> process start p99, 8 clients', unit: 'ms', op: '<=', bound: 250 },
  { figure: 'messagesPerJob', label: 'messages per single-instance job', unit: '', op: '<=', bound: 5 },
  { figure: 'idleCpuPercentPerAgent', label: 'idle agent CPU (4 peers)', unit: '% of a core', op: '<=', bound: 0.5 },
  { figure: 'rssMbPerAgent', label: 'idle agent RSS', unit: 'MB', op: '<=', bound: 80 },
  { figure: 'joinConvergeMs.50', label: '50 agents: all see 50 alive (from launch)', unit: 'ms', op: '<=', bound: 30_000 },
  { figure: 'detectMsBySize.50', label: '50 agents: SIGKILL -> dead on all others', unit: 'ms', op: '<=', bound: 1_500 },
  { figure: 'rssMbAfterJobs', label: 'RSS after all jobs, vs after the checkpoint', unit: 'MB', op: '<=', bound: 1.2, of: { figure: 'rssMbAtCheckpoint', label: 'RSS at checkpoint' } },
  { figure: 'placementDecisionsPerSec', label: 'placement decisions (100 nodes)', unit: '/s', op: '>=', bound: 10_000 },
  { figure: 'failoverMs.p99', label: 'SIGKILL -> all affected running elsewhere p99', unit: 'ms', op: '<=', bound: 1_500 },
  { figure: 'detectMs.p99', label: `SIGKILL -> dead on all others p99`, unit: 'ms', op: '<=', bound: 1_500 },
  { figure: 'failoverStopMs.p99', label: 'SIGSTOP -> all affected running elsewhere p99', unit: 'ms', op: '<=', bound: 4_000 },
]

/** Figures shown without a goal, for context. */
const CONTEXT: Array<{ figure: string; label: string; unit: string }> = [
  { figure: 'bareSpawnPerSec', label: 'bare spawn of `true` (same run, same concurrency)', unit: '/s' },
  { figure: 'acceptedJobsPerSec', label: 'submits acknowledged (201), throughput run', unit: '/s' },
  { figure: 'ackToStartMs.p50', label: '201 -> process start p50', unit: 'ms' },
  { figure: 'ackToStartMs.p99', label: '201 -> process start p99', unit: 'ms' },
  { figure: 'submitToDoneMs.p50', label: 'submit -> done p50, one at a time', unit: 'ms' },
  { figure: 'submitToDoneMs.p99', label: 'submit -> done p99, one at a time', unit: 'ms' },
  { figure: 'submitToStartLoadedMs.p50', label: 'submit -> process start p50, 8 clients', unit: 'ms' },
  { figure: 'messagesPerJobWatched', label: 'messages per job, every node\'s /v1/events watched', unit: '' },
  { figure: 'messagesPerJobAllRoutes', label: 'messages per job, any submit route', unit: '' },
  { figure: 'failoverMs.p50', label: 'SIGKILL -> all affected running elsewhere p50', unit: 'ms' },
  { figure: 'detectMs.p50', label: 'SIGKILL -> dead on all others p50', unit: 'ms' },
  ...['3', '10', '30'].flatMap((n) => [
    { figure: `joinConvergeMs.${n}`, label: `${n} agents: all see ${n} alive (from launch)`, unit: 'ms' },
    { figure: `detectMsBySize.${n}`, label: `${n} agents: SIGKILL -> dead on all others`, unit: 'ms' },
  ]),
  { figure: 'rssMbAtCheckpoint', label: 'one agent: RSS at the checkpoint', unit: 'MB' },
]

function value(results: BenchResults, figure: string): number | null {
  return results.figures[figure]?.median ?? null
}

function spreadText(f: Figure | undefined): string {
  if (f === undefined || f.median === null) return ''
  const n = f.runs.filter((v) => v !== null).length
  return n <= 1 ? `1 run` : `${fmt(f.min)}–${fmt(f.max)} (${n} runs)`
}

function fmt(v: number | null): string {
  const r = round(v)
  return r === null ? '–' : r.toLocaleString('en-US', { maximumFractionDigits: 3 })
}

export interface GoalRow { figure: string; label: string; value: number | null; goal: string; met: boolean | null }

export function judge(results: BenchResults): GoalRow[] {
  return GOALS.map((g) => {
    const v = value(results, g.figure)
    const ref = g.of === undefined ? 1 : value(results, g.of.figure)
    const bound = ref === null ? null : g.bound * ref
    const met = v === null || bound === null ? null : g.op === '<=' ? v <= bound : v >= bound
    const goal = g.of === undefined ? `${g.op} ${fmt(g.bound)} ${g.unit}`.trim() : `${g.op} ${g.bound}x ${g.of.label}${bound === null ? '' : ` (${fmt(bound)})`}`
    return { figure: g.figure, label: g.label, value: v, goal, met }
  })
}

export function markdownTable(results: BenchResults, options: BenchOptions): string {
  const lines = [
    `| figure | median | spread (min–max over runs) | goal | |`,
    `|---|---|---|---|---|`,
  ]
  for (const row of judge(results)) {
    const g = GOALS.find((x) => x.figure === row.figure) as Goal
    const mark = row.met === null ? 'not measured' : row.met ? 'met' : '**missed**'
    lines.push(`| ${row.label} | ${fmt(row.value)} ${g.unit} | ${spreadText(results.figures[row.figure])} | ${row.goal} | ${mark} |`)
  }
  for (const c of CONTEXT) {
    const f = results.figures[c.figure]
    if (f === undefined || f.median === null) continue
    lines.push(`| ${c.label} | ${fmt(f.median)} ${c.unit} | ${spreadText(f)} | | |`)
  }
  const extra = [
    `${options.agents} agents unless the row says otherwise; ${options.quick ? 'quick mode' : 'full mode'}, up to ${options.runs} runs per figure.`,
    ...results.notes.map((n) => `Note: ${n}`),
    ...results.errors.map((e) => `Error: ${e}`),
  ]
  return `${lines.join('\n')}\n\n${extra.join('\n')}\n`
}

function nested(results: BenchResults, prefix: string, keys?: string[]): Record<string, number | null> {
  const out: Record<string, number | null> = {}
  for (const k of keys ?? []) out[k] = null
  for (const [name, f] of Object.entries(results.figures)) {
    if (name.startsWith(`${prefix}.`)) out[name.slice(prefix.length + 1)] = round(f.median)
  }
  return out
}

/** results.json, and the object `--json` prints: the contract's keys, then the rest. */
export function resultsJson(results: BenchResults, options: BenchOptions, machine: Machine): Record<string, unknown> {
  const v = (name: string): number | null => round(value(results, name))
  const pair = (name: string): { p50: number | null; p99: number | null } => ({ p50: v(`${name}.p50`), p99: v(`${name}.p99`) })
  const notes = [...results.notes]
  if (options.quick) notes.push('quick mode: fewer and smaller runs; join sizes above 10 and the SIGSTOP rounds are not measured')
  const spread: Record<string, { min: number | null; max: number | null; runs: Array<number | null> }> = {}
  for (const [name, f] of Object.entries(results.figures)) spread[name] = { min: round(f.min), max: round(f.max), runs: f.runs.map(round) }
  return {
    agents: options.agents,
    submitToStartMs: pair('submitToStartMs'),
    submitToStartLoadedMs: pair('submitToStartLoadedMs'),
    submitToDoneMs: pair('submitToDoneMs'),
    throughputJobsPerSec: v('throughputJobsPerSec'),
    bareSpawnPerSec: v('bareSpawnPerSec'),
    messagesPerJob: v('messagesPerJob'),
    messagesByType: nested(results, 'messagesByType'),
    placementDecisionsPerSec: v('placementDecisionsPerSec'),
    failoverMs: pair('failoverMs'),
    detectMs: pair('detectMs'),
    joinConvergeMs: nested(results, 'joinConvergeMs', CONTRACT_SIZES),
    idleCpuPercentPerAgent: v('idleCpuPercentPerAgent'),
    rssMbPerAgent: v('rssMbPerAgent'),
    rssMbAfterJobs: v('rssMbAfterJobs'),
    ackToStartMs: pair('ackToStartMs'),
    submitToDoneLoadedMs: pair('submitToDoneLoadedMs'),
    acceptedJobsPerSec: v('acceptedJobsPerSec'),
    messagesPerJobWatched: v('messagesPerJobWatched'),
    messagesPerJobAllRoutes: v('messagesPerJobAllRoutes'),
    failoverStopMs: pair('failoverStopMs'),
    detectMsBySize: nested(results, 'detectMsBySize', CONTRACT_SIZES),
    joinReadyMs: nested(results, 'joinReadyMs', CONTRACT_SIZES),
    rssMbAtCheckpoint: v('rssMbAtCheckpoint'),
    rssGrowthRatio: v('rssGrowthRatio'),
    rssJobs: options.rssJobs,
    rssCheckpoint: options.rssCheckpoint,
    goals: judge(results).map((r) => ({ ...r, value: round(r.value) })),
    spread,
    notes,
    errors: results.errors,
    details: results.details,
    seconds: results.seconds,
    mode: options.quick ? 'quick' : 'full',
    runs: options.runs,
    machine,
  }
}

/** JSON text with every fractional number rounded as in the table (raw timings carry float noise). */
export function jsonText(value: unknown, indent?: number): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'number' && !Number.isInteger(v) ? round(v) : v), indent)
}
