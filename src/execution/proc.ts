// Process groups, read from /proc and signalled with kill(-pgid): who is in a group, how much
// memory the group holds, and when it is gone. Linux only; callers check procAvailable.
import { closeSync, existsSync, openSync, readFileSync, readSync, readdirSync } from 'node:fs'

export const procAvailable = existsSync('/proc/self/stat')

/** The fields of /proc/<pid>/stat that we use. */
export interface ProcStat {
  pid: number
  /** R, S, D, Z, T...: Z (zombie) and X (dead) hold no memory and cannot be signalled away. */
  state: string
  pgrp: number
  /** Clock ticks after boot: with the pid, identifies one process across pid reuse. */
  startTime: number
  rssPages: number
}

/** proc(5) numbers stat fields from 1; after the `(comm)` field (2) they start at field 3. */
const FIELD_OFFSET = 3
const STAT_STATE = 3
const STAT_PGRP = 5
const STAT_STARTTIME = 22
const STAT_RSS = 24

/** Parses /proc/<pid>/stat. comm may hold spaces and parentheses, so split after the last ')'. */
export function parseStat(text: string): ProcStat | null {
  const close = text.lastIndexOf(')')
  if (close < 0) return null
  const pid = Number.parseInt(text.slice(0, text.indexOf(' ')), 10)
  const fields = text.slice(close + 2).split(' ')
  const field = (n: number): string | undefined => fields[n - FIELD_OFFSET]
  const state = field(STAT_STATE)
  const pgrp = Number(field(STAT_PGRP))
  const startTime = Number(field(STAT_STARTTIME))
  const rssPages = Number(field(STAT_RSS))
  if (!state || !Number.isInteger(pid) || !Number.isInteger(pgrp) || !Number.isFinite(rssPages)) return null
  return { pid, state, pgrp, startTime, rssPages }
}

export function readStatSync(pid: number): ProcStat | null {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return null
  }
}

/** /proc/<pid>/stat: 52 numeric fields of at most 20 digits plus a 16-byte comm fit in 4 KiB. */
const STAT_BUF_BYTES = 4096
const statBuf = Buffer.alloc(STAT_BUF_BYTES)

/**
 * Every process we can see; those that exit mid-scan are skipped. Synchronous on purpose, with
 * one reused buffer: ~9 us per process here, where async reads through the libuv pool cost ~130 us
 * of CPU per process (measured), and a scan of a few hundred processes blocks for ~2-3 ms.
 */
export function scanProcesses(): ProcStat[] {
  let names: string[]
  try {
    names = readdirSync('/proc')
  } catch {
    return []
  }
  const stats: ProcStat[] = []
  for (const name of names) {
    const first = name.charCodeAt(0)
    if (first < 48 || first > 57) continue // not a pid directory
    let fd: number | undefined
    try {
      fd = openSync(`/proc/${name}/stat`, 'r')
      const n = readSync(fd, statBuf, 0, STAT_BUF_BYTES, 0)
      const stat = parseStat(statBuf.toString('latin1', 0, n))
      if (stat) stats.push(stat)
    } catch {
      // gone between readdir and read
    } finally {
      if (fd !== undefined) closeSync(fd)
    }
  }
  return stats
}

/**
 * Live process groups whose members carry `name=<value>` in their environment, by value: how a
 * job is found when its pid was never written down (its spawner died between the fork and the pid
 * file). The environment is what the process was exec'd with, so a job cannot move itself out of
 * its allocation by changing a variable later. A group's leader is preferred as the witness; a
 * group whose leader has exited is still found through any member. Processes we may not read
 * (another user's, when not root) are skipped. Synchronous like scanProcesses, and only for
 * rare paths: one read of every process's environment.
 */
export function groupsByEnv(name: string): Map<string, number> {
  const found = new Map<string, number>()
  const key = Buffer.from(`${name}=`, 'latin1')
  for (const stat of scanProcesses()) {
    if (!isLive(stat) || stat.pid === process.pid) continue
    let environ: Buffer
    try {
      environ = readFileSync(`/proc/${stat.pid}/environ`)
    } catch {
      continue
    }
    const value = envValue(environ, key)
    if (value === null) continue
    if (!found.has(value) || stat.pid === stat.pgrp) found.set(value, stat.pgrp)
  }
  return found
}

/** The value of the first `key...` entry of a NUL-separated environment block, or null. */
function envValue(environ: Buffer, key: Buffer): string | null {
  let at = 0
  while (at < environ.length) {
    const end = environ.indexOf(0, at)
    const stop = end < 0 ? environ.length : end
    if (stop - at >= key.length && environ.compare(key, 0, key.length, at, at + key.length) === 0) {
      return environ.toString('utf8', at + key.length, stop)
    }
    at = stop + 1
  }
  return null
}

export function isLive(stat: ProcStat): boolean {
  return stat.state !== 'Z' && stat.state !== 'X' && stat.state !== 'x'
}

/** Live (non-zombie) members of a process group. */
export function groupMembers(pgid: number): ProcStat[] {
  return scanProcesses().filter((s) => s.pgrp === pgid && isLive(s))
}

/**
 * Sends a signal to every process in the group. Returns false when the group is empty (ESRCH);
 * other errors (EPERM: the job changed uid) are returned for logging.
 */
export function signalGroup(pgid: number, signal: NodeJS.Signals | 0): true | false | Error {
  try {
    process.kill(-pgid, signal)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false
    return err as Error
  }
}

/** Used when smaps cannot be read: 4 KiB is the page size of x86-64 and most arm64 kernels. */
const DEFAULT_PAGE_SIZE = 4096
let cachedPageSize: number | undefined

/** The kernel page size (RSS in /proc/<pid>/stat counts pages), read once from our own smaps. */
export function pageSize(): number {
  if (cachedPageSize !== undefined) return cachedPageSize
  cachedPageSize = DEFAULT_PAGE_SIZE
  try {
    const m = /KernelPageSize:\s+(\d+) kB/.exec(readFileSync('/proc/self/smaps', 'utf8'))
    if (m?.[1]) cachedPageSize = Number(m[1]) * 1024
  } catch {
    // keep the default
  }
  return cachedPageSize
}

/** Boot id: a pid and start time from a previous boot mean nothing now. */
export function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
  } catch {
    return ''
  }
}
