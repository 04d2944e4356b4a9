// What really ran, independent of what any agent reports: a lab service touches a start file
// when it starts and a beat file four times a second in its allocation directory (its HOME,
// under the host's data dir), so a run's interval is [start, last beat]. And what runs right
// now: the processes in each host's namespace, by the allocation id in their environment.
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { isRunning } from './netns.js'

/** How often a lab service beats; a run whose last beat is older than a few of these has ended. */
export const BEAT_MS = 250

/**
 * A service that records its own run. `sleep` is the only process it forks (4 a second); the
 * start and beat files are written by the shell itself.
 */
export function beatingCommand(): string[] {
  return ['sh', '-c', `: > "$HOME/lab-start"; while :; do echo > "$HOME/lab-beat"; sleep ${BEAT_MS / 1000}; done`]
}

/** One run as the files tell it. */
export interface Run {
  host: string
  allocId: string
  jobId: string
  index: number
  attempt: number
  startedAt: number
  /** The last beat (the start when it never beat). */
  lastBeatAt: number
}

/** `<job id>.<index>.<attempt>` (src/core/job-status.ts allocationId); job ids may hold dots. */
export function parseAllocId(id: string): { jobId: string; index: number; attempt: number } | undefined {
  const m = /^(.+)\.(\d+)\.(\d+)$/.exec(id)
  return m === null ? undefined : { jobId: m[1] as string, index: Number(m[2]), attempt: Number(m[3]) }
}

/** Every run of every lab service on the given hosts (host name -> its agent's data dir). */
export function readRuns(dataDirs: ReadonlyMap<string, string>): Run[] {
  const runs: Run[] = []
  for (const [host, dataDir] of dataDirs) {
    const allocs = join(dataDir, 'allocs')
    let entries: string[]
    try {
      entries = readdirSync(allocs)
    } catch {
      continue
    }
    for (const allocId of entries) {
      const parsed = parseAllocId(allocId)
      if (parsed === undefined) continue
      const startedAt = mtime(join(allocs, allocId, 'lab-start'))
      if (startedAt === undefined) continue
      runs.push({ host, allocId, ...parsed, startedAt, lastBeatAt: Math.max(startedAt, mtime(join(allocs, allocId, 'lab-beat')) ?? startedAt) })
    }
  }
  return runs.sort((a, b) => a.startedAt - b.startedAt)
}

function mtime(file: string): number | undefined {
  try {
    return statSync(file).mtimeMs
  } catch {
    return undefined
  }
}

/**
 * The allocation ids of the processes running in a namespace, from their environment (every
 * process a run forks carries its MURMUR_ALLOC_ID), given the namespace's pids.
 */
export function allocIdsOf(pids: readonly number[]): Set<string> {
  const ids = new Set<string>()
  for (const pid of pids) {
    try {
      const env = readFileSync(`/proc/${pid}/environ`, 'utf8')
      const m = /(?:^|\0)MURMUR_ALLOC_ID=([^\0]+)/.exec(env)
      if (m !== null && isRunning(pid)) ids.add(m[1] as string)
    } catch {
      // the process ended meanwhile
    }
  }
  return ids
}

/**
 * Per instance of a job, the longest time two of its runs ran at once (by their files). A run
 * still beating counts as running until `now`.
 */
export function longestOverlapMs(runs: readonly Run[], jobId: string, now: number): Map<number, number> {
  const out = new Map<number, number>()
  const mine = runs.filter((r) => r.jobId === jobId)
  const end = (r: Run): number => (now - r.lastBeatAt < 4 * BEAT_MS ? now : r.lastBeatAt)
  for (let i = 0; i < mine.length; i++) {
    for (let j = i + 1; j < mine.length; j++) {
      const a = mine[i] as Run
      const b = mine[j] as Run
      if (a.index !== b.index) continue
      const overlap = Math.min(end(a), end(b)) - Math.max(a.startedAt, b.startedAt)
      if (overlap > (out.get(a.index) ?? 0)) out.set(a.index, overlap)
    }
  }
  return out
}
