// What `murmur status` prints: a table of jobs, or one job in detail with its allocations.
import type { JobStatus } from '../core/job-types.js'
import { formatDuration, formatNumber, formatTable } from './output.js'

/** Longest pending reason shown in the jobs table; `murmur status JOB` shows it whole. */
const REASON_WIDTH = 60

function truncate(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`
}

/** Time since an ISO timestamp, `-` when there is none. */
function age(iso: string | null | undefined, now: number): string {
  if (iso === null || iso === undefined) return '-'
  const t = Date.parse(iso)
  return Number.isNaN(t) ? '-' : formatDuration(Math.max(0, now - t))
}

/** Instances whose latest attempt is running, out of the job's count. */
export function runningInstances(job: JobStatus): string {
  const latest = new Map<number, JobStatus['allocations'][number]>()
  for (const a of job.allocations) {
    const seen = latest.get(a.index)
    if (seen === undefined || a.attempt > seen.attempt) latest.set(a.index, a)
  }
  const running = [...latest.values()].filter((a) => a.state === 'running').length
  return `${running}/${job.spec.count}`
}

/** The jobs table, oldest first (the newest ends up next to the prompt). */
export function formatJobs(jobs: JobStatus[], now: number): string {
  const sorted = [...jobs].sort((a, b) => a.submittedAt.localeCompare(b.submittedAt) || a.id.localeCompare(b.id))
  return formatTable(
    ['ID', 'NAME', 'TYPE', 'STATE', 'INSTANCES', 'SUBMITTED', 'PENDING-REASON'],
    sorted.map((j) => [j.id, j.name, j.type, j.state, runningInstances(j), age(j.submittedAt, now),
      truncate(j.pendingReason ?? '', REASON_WIDTH)]),
  )
}

/** argv as a shell would need it typed: plain words bare, anything else single-quoted. */
export function shellQuote(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ')
}

/** One job in detail: its spec, state, and every attempt of every instance. */
export function formatJob(job: JobStatus, now: number): string {
  const { spec } = job
  const fields: Array<[string, string]> = [
    ['ID', job.id],
    ['Name', job.name],
    ['Type', job.type],
    ['State', job.state],
    ['Submitted', `${job.submittedAt} (${age(job.submittedAt, now)} ago)`],
    ['Command', shellQuote(spec.command)],
    ['Resources', `cpu ${formatNumber(spec.resources.cpu)}, memory ${formatNumber(spec.resources.memoryMb)} MB`],
    ['Instances', `${runningInstances(job)} running`],
    ['Restart', spec.restart.attempts === 0 ? 'no retries' : `${spec.restart.attempts} ${spec.restart.attempts === 1 ? 'retry' : 'retries'} after a failure, ${spec.restart.backoffMs} ms apart`],
    ['Timeout', spec.timeoutMs === 0 ? 'none' : formatDuration(spec.timeoutMs)],
  ]
  if (spec.constraints.length > 0) fields.push(['Constraints', spec.constraints.map((c) => `${c.label} ${c.op} ${c.value}`).join(', ')])
  // Names only: values may be secrets, and `--json` shows them to whoever asks for them.
  const envNames = Object.keys(spec.env)
  if (envNames.length > 0) fields.push(['Env', envNames.join(', ')])
  if (job.pendingReason !== undefined) fields.push(['Pending', job.pendingReason])
  if (job.storedOn !== undefined && job.storedOn.length > 0) fields.push(['Stored on', job.storedOn.join(', ')])
  if (job.duplicates !== undefined && job.duplicates.length > 0) {
    fields.push(['Duplicates', job.duplicates.map((d) => `instance ${d.index} attempt ${d.attempt} also ran on ${d.nodeName}, stopped ${age(d.stoppedAt, now)} ago`).join('; ')])
  }

  const width = Math.max(...fields.map(([k]) => k.length))
  const head = fields.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n')
  const allocations = job.allocations.length === 0
    ? 'no allocations yet\n'
    : formatTable(['INDEX', 'ATTEMPT', 'NODE', 'STATE', 'EXIT', 'STARTED', 'FINISHED', 'REASON'],
      job.allocations.map((a) => [String(a.index), String(a.attempt), a.nodeName || a.nodeId, a.state,
        a.exitCode === null ? '-' : String(a.exitCode), age(a.startedAt, now), age(a.finishedAt, now),
        a.reason ?? (a.replaces === undefined ? '' : `replaces attempt ${a.replaces} (drain)`)]))
  return `${head}\n\nAllocations\n${allocations}`
}
