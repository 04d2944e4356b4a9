// CPU time and resident memory of one process, from /proc (Linux). CPU is utime + stime in clock
// ticks (fields 14 and 15 of /proc/<pid>/stat; CLK_TCK from `getconf`); memory is VmRSS from
// /proc/<pid>/status, what the kernel counts as resident for that process alone.
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'

let ticksPerSec: number | undefined

export function clockTicksPerSec(): number {
  if (ticksPerSec === undefined) {
    const v = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())
    if (!Number.isInteger(v) || v <= 0) throw new Error(`getconf CLK_TCK answered ${JSON.stringify(v)}`)
    ticksPerSec = v
  }
  return ticksPerSec
}

/** CPU seconds (user + system) the process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // The command name (field 2) is in parentheses and may hold spaces: count fields after its ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // fields[0] is field 3 (state), so utime (14) and stime (15) are fields[11] and fields[12].
  const utime = Number(fields[11])
  const stime = Number(fields[12])
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`cannot parse /proc/${pid}/stat`)
  return (utime + stime) / clockTicksPerSec()
}

/** Resident set size in MB (VmRSS). */
export function rssMb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  if (m === null) throw new Error(`no VmRSS in /proc/${pid}/status`)
  return Number(m[1]) / 1024
}

/**
 * The agent's job spawner (src/execution/spawner.mjs), if one runs: it is the agent's child and
 * part of what the agent costs. It exists only while jobs have started in the last 30 s.
 */
export function spawnerPids(agentPid: number): number[] {
  const pids: number[] = []
  let tasks: string[]
  try {
    tasks = readdirSync(`/proc/${agentPid}/task`)
  } catch {
    return pids
  }
  for (const tid of tasks) {
    try {
      for (const child of readFileSync(`/proc/${agentPid}/task/${tid}/children`, 'utf8').trim().split(' ')) {
        if (child !== '' && readFileSync(`/proc/${child}/cmdline`, 'utf8').includes('spawner.mjs')) pids.push(Number(child))
      }
    } catch {
      // a thread or child that ended between the listing and the read
    }
  }
  return pids
}
