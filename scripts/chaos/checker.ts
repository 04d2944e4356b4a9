// The checks of a chaos run, as pure functions of what was recorded: the history's runs, the
// faults as applied, and the agents' final job views. Three are invariants the contract promises
// (no acked job lost, nothing reported succeeded that never ran, no node over its declared
// capacity); duplicates and recovery times are figures.
import type { AgentJobsView, AllocView, AppliedFault, Capacity, FaultKind, JobEvent, JobType, JobView, NegativeFree, Run } from './types.js'

/** Resources are summed in thousandths, so 0.25 + 0.5 + 0.75 + 0.5 is exactly 2. */
const MILLI = 1000
const BATCH_TERMINAL = new Set(['succeeded', 'failed', 'cancelled'])

// --- overcommit -----------------------------------------------------------------------------------

/** A stretch of time during which a node ran more than it declared. */
export interface OvercommitEvent {
  node: string
  from: number
  to: number
  capacity: Capacity
  /** The most cpu and the most memory in use during the stretch (each its own maximum). */
  peak: Capacity
  /** Every allocation that ran on the node during the stretch. */
  allocs: string[]
}

/**
 * Sweeps each node's runs in time order (an end before a start at the same instant: the agent
 * frees room only after the process is gone, so a start at the very ms of an end is legitimate)
 * and reports every stretch where the running total exceeded the node's capacity.
 */
export function checkOvercommit(runs: Run[], capacity: Record<string, Capacity>, resourcesOf: (jobId: string) => Capacity | undefined): OvercommitEvent[] {
  const events: OvercommitEvent[] = []
  const byNode = new Map<string, Run[]>()
  for (const r of runs) {
    if (r.end <= r.start) continue
    const list = byNode.get(r.node) ?? []
    list.push(r)
    byNode.set(r.node, list)
  }
  for (const [node, list] of byNode) {
    const cap = capacity[node]
    if (cap === undefined) continue
    const capCpu = Math.round(cap.cpu * MILLI)
    const capMem = Math.round(cap.memoryMb * MILLI)
    const points: Array<{ t: number; delta: 1 | -1; run: Run }> = []
    for (const run of list) points.push({ t: run.start, delta: 1, run }, { t: run.end, delta: -1, run })
    points.sort((a, b) => a.t - b.t || a.delta - b.delta)
    const running = new Set<Run>()
    let cpu = 0
    let mem = 0
    let current: OvercommitEvent | undefined
    for (const p of points) {
      const res = resourcesOf(p.run.jobId)
      if (res === undefined) continue
      const c = Math.round(res.cpu * MILLI)
      const m = Math.round(res.memoryMb * MILLI)
      if (p.delta === 1) {
        running.add(p.run)
        cpu += c
        mem += m
      } else {
        running.delete(p.run)
        cpu -= c
        mem -= m
      }
      const over = cpu > capCpu || mem > capMem
      if (over) {
        current ??= { node, from: p.t, to: p.t, capacity: cap, peak: { cpu: 0, memoryMb: 0 }, allocs: [] }
        current.peak = { cpu: Math.max(current.peak.cpu, cpu / MILLI), memoryMb: Math.max(current.peak.memoryMb, mem / MILLI) }
        for (const r of running) if (!current.allocs.includes(r.allocId)) current.allocs.push(r.allocId)
      } else if (current !== undefined) {
        current.to = p.t
        events.push(current)
        current = undefined
      }
    }
    if (current !== undefined) events.push(current)
  }
  return events.sort((a, b) => a.from - b.from)
}

/** The nodes an agent's /v1/nodes answer shows with free cpu or memory below zero. */
export function negativeFrees(observer: string, at: number, rows: Array<{ name: string; resources?: { free?: Partial<Capacity> } }>): NegativeFree[] {
  const out: NegativeFree[] = []
  for (const row of rows) {
    const free = row.resources?.free
    if (free === undefined) continue
    const cpu = free.cpu ?? 0
    const memoryMb = free.memoryMb ?? 0
    if (cpu < -1e-9 || memoryMb < -1e-9) out.push({ at, observer, node: row.name, cpu, memoryMb })
  }
  return out
}

// --- duplicates -----------------------------------------------------------------------------------

export interface RunRef {
  node: string
  allocId: string
  start: number
  end: number
  endKind: Run['endKind']
}

/** Two runs of one instance that overlapped in time. */
export interface DuplicateRun {
  jobId: string
  index: number
  first: RunRef
  second: RunRef
  overlapMs: number
  /** The fault that left a copy running on its node, if any: the expected cause of duplicates. */
  cause: FaultKind | 'none'
  causeNode?: string
}

export interface Duplicates {
  /** Overlapping runs on different nodes. */
  acrossNodes: DuplicateRun[]
  /** Overlapping runs of one instance on the same node (two attempts at once). */
  sameNode: DuplicateRun[]
}

const ref = (r: Run): RunRef => ({ node: r.node, allocId: r.allocId, start: r.start, end: r.end, endKind: r.endKind })

/** The fault on a run's node while it ran, if any (the latest one before the overlap). */
function faultDuring(run: Run, faults: AppliedFault[], before: number): AppliedFault | undefined {
  return faults.filter((f) => f.node === run.node && f.at >= run.start && f.at < Math.min(run.end, before))
    .sort((a, b) => b.at - a.at)[0]
}

export function findDuplicates(runs: Run[], faults: AppliedFault[]): Duplicates {
  const byInstance = new Map<string, Run[]>()
  for (const r of runs) {
    const k = `${r.jobId}/${r.index}`
    const list = byInstance.get(k) ?? []
    list.push(r)
    byInstance.set(k, list)
  }
  const out: Duplicates = { acrossNodes: [], sameNode: [] }
  for (const list of byInstance.values()) {
    list.sort((a, b) => a.start - b.start)
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length; j++) {
        const a = list[i] as Run
        const b = list[j] as Run
        const overlapMs = Math.min(a.end, b.end) - Math.max(a.start, b.start)
        if (overlapMs <= 0) continue
        // The older copy is the one a fault may have left behind; the newer is its replacement.
        const fault = faultDuring(a, faults, b.start) ?? faultDuring(b, faults, a.end)
        const dup: DuplicateRun = {
          jobId: a.jobId, index: a.index, first: ref(a), second: ref(b), overlapMs,
          cause: fault?.kind ?? 'none', ...(fault === undefined ? {} : { causeNode: fault.node }),
        }
        ;(a.node === b.node ? out.sameNode : out.acrossNodes).push(dup)
      }
    }
  }
  out.acrossNodes.sort((x, y) => x.second.start - y.second.start)
  out.sameNode.sort((x, y) => x.second.start - y.second.start)
  return out
}

// --- succeeded but never ran ----------------------------------------------------------------------

export interface SucceededNeverRan {
  jobId: string
  allocId: string
  /** The agents whose view said so. */
  reportedBy: string[]
  why: string
}

/**
 * Every allocation an agent reports `succeeded` must have a start and an end line (not a stop)
 * from that allocation on the node the status names; and a succeeded batch job must have a
 * succeeded allocation for every instance.
 */
export function checkSucceededRan(views: AgentJobsView[], runs: Run[], nameOf: (nodeId: string) => string | undefined): SucceededNeverRan[] {
  const byAlloc = new Map<string, Run[]>()
  for (const r of runs) {
    const list = byAlloc.get(r.allocId) ?? []
    list.push(r)
    byAlloc.set(r.allocId, list)
  }
  const found = new Map<string, SucceededNeverRan>()
  const flag = (jobId: string, allocId: string, agent: string, why: string): void => {
    const k = `${allocId}|${why}`
    const cur = found.get(k)
    if (cur === undefined) found.set(k, { jobId, allocId, reportedBy: [agent], why })
    else if (!cur.reportedBy.includes(agent)) cur.reportedBy.push(agent)
  }
  for (const view of views) {
    for (const job of view.jobs ?? []) {
      if (job.state === 'succeeded' && job.type === 'batch') {
        for (let i = 0; i < job.spec.count; i++) {
          if (!job.allocations.some((a) => a.index === i && a.state === 'succeeded')) flag(job.id, `${job.id}.${i}.?`, view.agent, `job succeeded but instance ${i} has no succeeded allocation`)
        }
      }
      for (const a of job.allocations) {
        if (a.state !== 'succeeded') continue
        const allocId = `${job.id}.${a.index}.${a.attempt}`
        const names = new Set([a.nodeName, nameOf(a.nodeId)].filter((x): x is string => x !== undefined))
        const seen = byAlloc.get(allocId) ?? []
        if (seen.some((r) => names.has(r.node) && r.endKind === 'end')) continue
        const what = seen.length === 0 ? 'no start line at all' : seen.map((r) => `${r.node}: ${r.endKind}`).join(', ')
        flag(job.id, allocId, view.agent, `reported succeeded on ${a.nodeName}, but the history has ${what}`)
      }
    }
  }
  return [...found.values()]
}

// --- a success taken back ---------------------------------------------------------------------

/** A batch job reported succeeded that later was not: its view went back, or it ran again. */
export interface TakenBack {
  jobId: string
  kind: 'regressed' | 'ran again'
  /** When an agent first reported the job succeeded (as received). */
  succeededAt: number
  /** When it regressed (as received), or when the new run started (history). */
  at: number
  detail: string
}

/**
 * `succeeded` is terminal: once an agent reports a batch job succeeded, that agent must not later
 * report it pending or running, and no run of it may start afterwards (any start line later than
 * the first report, which we received no earlier than it was made, came after it).
 */
export function checkSuccessKept(events: JobEvent[], runs: Run[], batchJobs: ReadonlySet<string>): TakenBack[] {
  const out: TakenBack[] = []
  const firstSucceeded = new Map<string, JobEvent>()
  const byAgentJob = new Map<string, JobEvent[]>()
  for (const e of [...events].sort((a, b) => a.at - b.at)) {
    if (!batchJobs.has(e.job)) continue
    if (e.state === 'succeeded' && !firstSucceeded.has(e.job)) firstSucceeded.set(e.job, e)
    const k = `${e.agent}|${e.job}`
    const list = byAgentJob.get(k) ?? []
    list.push(e)
    byAgentJob.set(k, list)
  }
  for (const list of byAgentJob.values()) {
    let since: JobEvent | undefined
    for (const e of list) {
      if (e.state === 'succeeded') {
        since ??= e
      } else if (since !== undefined && (e.state === 'pending' || e.state === 'running')) {
        const what = e.index === undefined ? '' : ` (instance ${e.index} attempt ${e.attempt ?? '?'} ${e.allocState ?? '?'} on ${e.node ?? '?'}${e.reason === undefined ? '' : `: ${e.reason}`})`
        out.push({ jobId: e.job, kind: 'regressed', succeededAt: since.at, at: e.at, detail: `${e.agent} reported it succeeded, then ${e.state}${what}` })
        break
      }
    }
  }
  for (const r of runs) {
    const s = firstSucceeded.get(r.jobId)
    if (s === undefined || r.start <= s.at) continue
    out.push({ jobId: r.jobId, kind: 'ran again', succeededAt: s.at, at: r.start, detail: `${r.allocId} started on ${r.node} ${r.start - s.at} ms after ${s.agent} reported the job succeeded` })
  }
  return out.sort((a, b) => a.at - b.at)
}

// --- lost -----------------------------------------------------------------------------------------

export interface AckedJob {
  id: string
  type: JobType
}

export interface LostJob {
  id: string
  type: JobType
  why: string
  /** What each agent said: its state, `missing`, or `no answer`. */
  states: Record<string, string>
}

export interface Disagreement {
  id: string
  states: Record<string, string>
}

function statesOf(id: string, views: AgentJobsView[]): Record<string, string> {
  const states: Record<string, string> = {}
  for (const v of views) states[v.agent] = v.jobs === null ? 'no answer' : v.jobs.find((j) => j.id === id)?.state ?? 'missing'
  return states
}

/**
 * An acked job is lost if no agent that answered has it, or (batch) if no agent saw it terminal
 * by the settle deadline. Agents that answer but disagree are a figure, not a loss.
 */
export function checkLost(acked: AckedJob[], views: AgentJobsView[]): { lost: LostJob[]; disagreements: Disagreement[] } {
  const lost: LostJob[] = []
  const disagreements: Disagreement[] = []
  for (const job of acked) {
    const states = statesOf(job.id, views)
    const answered = Object.values(states).filter((s) => s !== 'no answer')
    const present = answered.filter((s) => s !== 'missing')
    if (present.length === 0) {
      lost.push({ id: job.id, type: job.type, why: answered.length === 0 ? 'no agent answered' : 'not found on any live agent', states })
      continue
    }
    if (job.type === 'batch' && !present.some((s) => BATCH_TERMINAL.has(s))) {
      lost.push({ id: job.id, type: job.type, why: 'never terminal by the settle deadline', states })
      continue
    }
    if (new Set(answered).size > 1) disagreements.push({ id: job.id, states })
  }
  return { lost, disagreements }
}

// --- recovery -------------------------------------------------------------------------------------

export interface FaultRecovery {
  seq: number
  kind: FaultKind
  node: string
  /** Instances that had a process running on the node at the fault. */
  affected: number
  /** Fault -> the last of them running again elsewhere (or terminal); null if one never was. */
  recoveredMs: number | null
  /** Instances (`job/index`) that never ran again nor ended. */
  unrecovered: string[]
  /** The instance that took longest, when all recovered. */
  slowest?: string
  /** Why there is no figure (e.g. a freeze too short to be noticed). */
  note?: string
}

function parseIso(s: string | null): number | null {
  if (s === null) return null
  const t = Date.parse(s)
  return Number.isFinite(t) ? t : null
}

/** The earliest time after `after` that an allocation of this instance ended succeeded or failed. */
function terminalAfter(allocs: AllocView[], index: number, after: number): number | null {
  let best: number | null = null
  for (const a of allocs) {
    if (a.index !== index || (a.state !== 'succeeded' && a.state !== 'failed')) continue
    const t = parseIso(a.finishedAt)
    if (t !== null && t > after && (best === null || t < best)) best = t
  }
  return best
}

/**
 * For each fault: the instances with a process running on the node at that instant (history),
 * and when each was running again under a new allocation (on another node, or on this one once it
 * was back) or had ended for the cluster (succeeded or failed, per the final job view).
 */
export function recoveryTimes(faults: AppliedFault[], runs: Run[], jobs: Map<string, JobView>): FaultRecovery[] {
  const out: FaultRecovery[] = []
  for (const f of faults) {
    const hit = runs.filter((r) => r.node === f.node && r.start < f.at && r.end > f.at)
    const base = { seq: f.seq, kind: f.kind, node: f.node, affected: new Set(hit.map((r) => `${r.jobId}/${r.index}`)).size }
    if (f.detectedAt === null) {
      out.push({ ...base, recoveredMs: null, unrecovered: [], note: 'never seen dead by every other agent: its runs were not replaced' })
      continue
    }
    if (hit.length === 0) {
      out.push({ ...base, recoveredMs: null, unrecovered: [], note: 'no process was running there' })
      continue
    }
    const instances = new Map<string, { jobId: string; index: number; allocs: Set<string> }>()
    for (const r of hit) {
      const k = `${r.jobId}/${r.index}`
      const cur = instances.get(k) ?? { jobId: r.jobId, index: r.index, allocs: new Set<string>() }
      cur.allocs.add(r.allocId)
      instances.set(k, cur)
    }
    let worst = 0
    let slowest = ''
    const unrecovered: string[] = []
    for (const [k, inst] of instances) {
      const again = runs
        .filter((r) => r.jobId === inst.jobId && r.index === inst.index && !inst.allocs.has(r.allocId) && r.start > f.at &&
          (r.node !== f.node || (f.backAt !== null && r.start >= f.backAt)))
        .reduce<number | null>((m, r) => (m === null || r.start < m ? r.start : m), null)
      const ended = terminalAfter(jobs.get(inst.jobId)?.allocations ?? [], inst.index, f.at)
      const at = again === null ? ended : ended === null ? again : Math.min(again, ended)
      if (at === null) {
        unrecovered.push(k)
      } else if (at - f.at >= worst) {
        worst = at - f.at
        slowest = k
      }
    }
    out.push(unrecovered.length > 0 ? { ...base, recoveredMs: null, unrecovered } : { ...base, recoveredMs: worst, unrecovered, slowest })
  }
  return out
}
