// One chaos run, start to report: start the agents, submit the workload while injecting the seeded
// faults, bring everything back, wait (bounded) for every acked batch job to end, read the
// history, check, and always stop what was started. The run directory holds the agents' data dirs,
// their stderr and the history; it is removed only when every check passed and --keep was not given.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { ChaosCluster, sleepUntil } from './cluster.js'
import { buildRuns, parseHistory } from './history.js'
import type { ChaosOptions } from './options.js'
import { buildReport, mergedJobs, type ChaosReport } from './report.js'
import { planFaults, planWorkload } from './schedule.js'
import { submitWorkload } from './submit.js'
import type { AgentJobsView, AppliedFault, HistoryLine, PlannedFault, SkippedFault, SubmitOutcome } from './types.js'

/** A planned fault waits at most this long for its node to be up and for room under maxDown. */
const FAULT_WAIT_MS = 20_000
/** Cancelled services' processes get this long to write their stop lines. */
const SERVICE_STOP_MS = 20_000
const SETTLE_POLL_MS = 1_000
/** The settle wait never takes more than this many times --settle, progress or not. */
const SETTLE_CAP = 3
const TERMINAL = new Set(['succeeded', 'failed', 'cancelled'])

export interface RunOptions {
  /** Progress lines (stderr in the CLI). */
  log?: (line: string) => void
  /** Aborting stops the run early (Ctrl-C); it still cleans up. */
  signal?: AbortSignal
}

function readHistory(dir: string): { lines: HistoryLine[]; bad: string[] } {
  const lines: HistoryLine[] = []
  const bad: string[] = []
  for (const f of readdirSync(dir)) {
    const parsed = parseHistory(readFileSync(join(dir, f), 'utf8'))
    lines.push(...parsed.lines)
    bad.push(...parsed.bad)
  }
  return { lines, bad }
}

/**
 * A job process left running when everything stopped (a start line without an end, whose pid is
 * still that allocation's process): SIGKILL its process group. Agents stop their processes when
 * SIGTERMed, and a SIGKILLed agent's are reaped at its restart; this is the last safety net.
 */
function killLeftovers(historyDir: string): number {
  let killed = 0
  const ended = new Set<string>()
  const { lines } = readHistory(historyDir)
  for (const l of lines) if (l.kind !== 'start') ended.add(`${l.allocId}|${l.pid}`)
  for (const l of lines) {
    if (l.kind !== 'start' || ended.has(`${l.allocId}|${l.pid}`)) continue
    try {
      if (!readFileSync(`/proc/${l.pid}/environ`, 'utf8').split('\0').includes(`MURMUR_ALLOC_ID=${l.allocId}`)) continue
      process.kill(-l.pid, 'SIGKILL')
      killed++
    } catch {
      // gone already, or not ours
    }
  }
  return killed
}

/** Applies the planned faults in the window; resolves once every fault's node is back. */
async function runFaults(schedule: PlannedFault[], cluster: ChaosCluster, t0: number, windowMs: number, maxDown: number, signal: AbortSignal): Promise<{ applied: AppliedFault[]; skipped: SkippedFault[] }> {
  const lifecycles: Array<Promise<AppliedFault>> = []
  const skipped: SkippedFault[] = []
  for (const f of schedule) {
    await sleepUntil(t0 + f.at, signal)
    if (signal.aborted || Date.now() >= t0 + windowMs) break
    const until = Math.min(Date.now() + FAULT_WAIT_MS, t0 + windowMs)
    while (!(cluster.state(f.node) === 'up' && cluster.notUpCount() < maxDown) && Date.now() < until && !signal.aborted) {
      await sleepUntil(Date.now() + 50, signal)
    }
    if (!(cluster.state(f.node) === 'up' && cluster.notUpCount() < maxDown)) {
      skipped.push({ seq: f.seq, kind: f.kind, node: f.node, reason: `${f.node} ${cluster.state(f.node)}, ${cluster.notUpCount()} of ${cluster.names.length} not up (limit ${maxDown})` })
      continue
    }
    lifecycles.push(cluster.applyFault(f, t0 + f.at))
  }
  const applied = await Promise.all(lifecycles)
  return { applied: applied.sort((a, b) => a.seq - b.seq), skipped }
}

/**
 * Polls every up agent until each shows every acked batch job terminal. Gives up when none has
 * become terminal for `limitMs` (a job stuck for good), or after SETTLE_CAP times that in all.
 * A fixed limit counted jobs still queued for room as lost: with services (which run until the
 * end) spread over the cluster, `--seed 14` left one node at a time with room for its 0.75-cpu
 * batch jobs, and the queue drained, one job every few seconds, past 120 s.
 */
async function settle(cluster: ChaosCluster, batchIds: string[], limitMs: number, signal: AbortSignal, log: (l: string) => void): Promise<void> {
  const began = Date.now()
  let fewest = Infinity
  let progressAt = began
  for (;;) {
    const views = await cluster.jobViews()
    let open = 0
    for (const v of views) {
      const byId = new Map((v.jobs ?? []).map((j) => [j.id, j.state]))
      open += batchIds.filter((id) => !TERMINAL.has(byId.get(id) ?? 'missing')).length
    }
    if (open === 0 && views.every((v) => v.jobs !== null)) return
    const now = Date.now()
    if (open < fewest) { fewest = open; progressAt = now }
    if (now - progressAt > limitMs || now - began > SETTLE_CAP * limitMs || signal.aborted) {
      log(`settle: gave up after ${now - began} ms (${now - progressAt} ms since a job last became terminal) with ${open} (job, agent) pairs not terminal`)
      return
    }
    await sleepUntil(now + SETTLE_POLL_MS, signal)
  }
}

/** Cancels every service job and waits (bounded) for their processes to have ended. */
async function stopServices(cluster: ChaosCluster, views: AgentJobsView[], historyDir: string, signal: AbortSignal): Promise<void> {
  const ids = [...mergedJobs(views).values()].filter((j) => j.type === 'service' && j.state !== 'cancelled').map((j) => j.id)
  if (ids.length === 0) return
  const via = cluster.upNames()[0]
  if (via === undefined) return
  await Promise.all(ids.map(async (id) => {
    await fetch(`${cluster.agent(via).api}/v1/jobs/${id}`, { method: 'DELETE', signal: AbortSignal.timeout(10_000) }).catch(() => undefined)
  }))
  const serviceIds = new Set(ids)
  const deadline = Date.now() + SERVICE_STOP_MS
  while (Date.now() < deadline && !signal.aborted) {
    const { lines } = readHistory(historyDir)
    const open = new Map<string, HistoryLine>()
    for (const l of lines.filter((x) => serviceIds.has(x.jobId)).sort((a, b) => a.at - b.at)) {
      const k = `${l.node}|${l.allocId}|${l.pid}`
      if (l.kind === 'start') open.set(k, l)
      else open.delete(k)
    }
    // A run whose agent was restarted after it started was reaped and never writes its line.
    const lastSpawn = (node: string): number => Math.max(0, ...cluster.starts.filter((x) => x.node === node).map((x) => x.spawnAt))
    if ([...open.values()].every((l) => l.at < lastSpawn(l.node))) return
    await sleepUntil(Date.now() + 250, signal)
  }
}

export async function runChaos(options: ChaosOptions, run: RunOptions = {}): Promise<ChaosReport> {
  const log = run.log ?? (() => undefined)
  const signal = run.signal ?? new AbortController().signal
  const began = Date.now()
  const loadAtStart = loadavg()[0] ?? 0
  const runDir = mkdtempSync(join(tmpdir(), 'murmur-chaos-'))
  const historyDir = join(runDir, 'history')
  for (const d of [historyDir, join(runDir, 'agents'), join(runDir, 'logs')]) mkdirSync(d, { recursive: true })
  const cluster = new ChaosCluster(runDir, { nodes: options.nodes, cpu: options.cpu, memoryMb: options.memoryMb, log, signal })
  const windowMs = options.seconds * 1000
  const schedule = planFaults({ seed: options.seed, nodes: cluster.names, seconds: options.seconds, maxDown: options.maxDown })
  const workload = planWorkload({
    seed: options.seed, jobs: options.jobs, seconds: options.seconds, nodes: options.nodes, services: options.services,
    minSleepMs: options.minSleepMs, maxSleepMs: options.maxSleepMs, submitFraction: options.submitFraction,
  })
  log(`chaos: seed ${options.seed}, ${options.nodes} agents, ${workload.length} jobs, ${schedule.length} planned faults, run dir ${runDir}`)
  let report: ChaosReport | undefined
  try {
    await cluster.startAll()
    const startClusterMs = Date.now() - began
    log(`cluster of ${options.nodes} up in ${startClusterMs} ms`)
    cluster.startMonitor()
    const t0 = Date.now()
    const submitting = submitWorkload(workload, { cluster, t0, historyDir, retries: options.retries, signal, log })
    const { applied, skipped } = await runFaults(schedule, cluster, t0, windowMs, options.maxDown, signal)
    await sleepUntil(t0 + windowMs, signal)
    const submits: SubmitOutcome[] = await submitting
    await cluster.ensureAllUp()
    const chaosMs = Date.now() - t0
    log(`window over after ${chaosMs} ms: ${applied.length} faults applied, ${submits.filter((s) => s.id !== null).length}/${submits.length} jobs acked; settling`)

    const settleFrom = Date.now()
    const ackedBatch = submits.filter((s) => s.id !== null && s.type === 'batch').map((s) => s.id as string)
    await settle(cluster, ackedBatch, options.settleSeconds * 1000, signal, log)
    const settleMs = Date.now() - settleFrom
    await stopServices(cluster, await cluster.jobViews(), historyDir, signal)
    const views = await cluster.jobViews()
    const nodeViews = await cluster.nodeViews()
    await cluster.stopMonitor()
    cluster.warnUnreaped()

    const jobs = mergedJobs(views)
    const until = Date.now()
    const { lines, bad } = readHistory(historyDir)
    const { runs, anomalies } = buildRuns(lines, {
      starts: cluster.starts, until,
      recordedEnd: (allocId, node) => {
        const m = /^(.+)\.(\d+)\.(\d+)$/.exec(allocId)
        if (m === null) return null
        const a = jobs.get(m[1] as string)?.allocations.find((x) => x.index === Number(m[2]) && x.attempt === Number(m[3]))
        if (a === undefined || (a.nodeName !== node && cluster.peers[a.nodeId] !== node) || !TERMINAL.has(a.state) || a.finishedAt === null) return null
        return Date.parse(a.finishedAt)
      },
    })
    const capacity = Object.fromEntries(cluster.names.map((n) => [n, { cpu: options.cpu, memoryMb: options.memoryMb }]))
    report = buildReport({
      options, runDir, kept: true, t0,
      timings: { startClusterMs, chaosMs, settleMs, totalMs: Date.now() - began },
      load: { start: loadAtStart, end: loadavg()[0] ?? 0 },
      schedule, workload, applied, skipped, submits, views, runs,
      historyAnomalies: anomalies, historyBadLines: bad, capacity,
      negativeFree: cluster.negativeFree, jobEvents: cluster.jobEvents, names: cluster.peers, warnings: cluster.warnings,
    })
    // For the post-mortem of a kept run: what every agent said at the end, and every job event.
    writeFileSync(join(runDir, 'views.json'), JSON.stringify(views))
    writeFileSync(join(runDir, 'nodes.json'), JSON.stringify(nodeViews))
    writeFileSync(join(runDir, 'events.jsonl'), cluster.jobEvents.map((e) => JSON.stringify(e)).join('\n'))
    return report
  } finally {
    await cluster.stop()
    const leftovers = killLeftovers(historyDir)
    if (leftovers > 0) log(`killed ${leftovers} job process group(s) left running`)
    const keep = options.keep || report === undefined || !report.ok
    if (report !== undefined) {
      report.kept = keep
      report.timings.totalMs = Date.now() - began
    }
    if (keep) {
      if (report !== undefined) writeFileSync(join(runDir, 'report.json'), JSON.stringify(report, null, 1))
      log(`run dir kept: ${runDir}`)
    } else {
      rmSync(runDir, { recursive: true, force: true })
    }
  }
}
