// Processes outlive a crashed agent on purpose (their output keeps going to the log files). Each
// allocation's leader is recorded in <dir>/murmur.pid so that the next agent on this data dir can
// find and kill what the last one left behind, without killing an unrelated process that reused
// the pid.
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { bootId, groupMembers, groupsByEnv, isLive, procAvailable, readStatSync, signalGroup } from './proc.js'
import { allocationDir, parseAllocationId } from './launch-spec.js'

const PID_FILE = 'murmur.pid'
/** Set in every job's environment (launch-spec.ts buildEnv) to its allocation directory. */
const ALLOC_DIR_VAR = 'MURMUR_ALLOC_DIR'

interface PidRecord {
  pid: number
  /** /proc/<pid>/stat starttime: tells our leader from a later process with the same pid. */
  startTime: number
  bootId: string
}

export function writePidFile(dir: string, pid: number): void {
  const record: PidRecord = { pid, startTime: readStatSync(pid)?.startTime ?? -1, bootId: bootId() }
  writeFileSync(join(dir, PID_FILE), JSON.stringify(record))
}

export function removePidFile(dir: string): void {
  rmSync(join(dir, PID_FILE), { force: true })
}

function readPidFile(dir: string): PidRecord | null {
  try {
    const r = JSON.parse(readFileSync(join(dir, PID_FILE), 'utf8')) as Partial<PidRecord>
    if (typeof r.pid !== 'number' || typeof r.startTime !== 'number' || typeof r.bootId !== 'string') return null
    return { pid: r.pid, startTime: r.startTime, bootId: r.bootId }
  } catch {
    return null
  }
}

/**
 * The leader pid recorded in an allocation dir, if that group is still ours and alive: how the
 * supervisor finds a run whose spawner died before it could say the pid.
 */
export function recordedLivePid(dir: string): number | null {
  const record = readPidFile(dir)
  return record && stillOurs(record) && groupMembers(record.pid).length > 0 ? record.pid : null
}

/**
 * The live process group of the job started in `dir`, found by its environment when no pid file
 * names it: the spawner writes the pid file just after the fork, and a spawner killed in between
 * leaves a job running that only its environment tells apart.
 */
export function livePidByEnvironment(dir: string): number | null {
  return procAvailable ? groupsByEnv(ALLOC_DIR_VAR).get(dir) ?? null : null
}

/**
 * Is the process group recorded here still ours? Its pgid is the leader's pid. While any member is
 * alive the kernel does not hand that number out again, so members without a leader are still
 * ours; a live process holding the number with another start time means the pid was reused.
 */
function stillOurs(record: PidRecord): boolean {
  if (!procAvailable || record.bootId !== bootId()) return false
  const leader = readStatSync(record.pid)
  if (leader && isLive(leader) && record.startTime >= 0 && leader.startTime !== record.startTime) return false
  return true
}

/**
 * SIGKILLs the process groups of allocations that a previous agent started and did not see end,
 * skipping `exclude` (allocations this agent runs). The allocations dir must belong to this agent
 * alone. Returns what it killed; the caller waits for those groups to vanish.
 */
export function reapOrphans(allocationsDir: string, exclude: ReadonlySet<string>): { allocationId: string; pgid: number }[] {
  let names: string[]
  try {
    names = readdirSync(allocationsDir)
  } catch {
    return []
  }
  const killed: { allocationId: string; pgid: number }[] = []
  for (const id of names) {
    if (exclude.has(id) || !parseAllocationId(id)) continue
    const dir = allocationDir(allocationsDir, id)
    const record = readPidFile(dir)
    if (!record) continue
    if (stillOurs(record) && groupMembers(record.pid).length > 0) {
      signalGroup(record.pid, 'SIGKILL')
      killed.push({ allocationId: id, pgid: record.pid })
    }
    removePidFile(dir)
  }
  // A job whose pid file was never written (the agent and its spawner died together, between
  // the fork and the write) is found by its environment. Its directory exists (the spawner
  // makes it before the fork), so a data dir without allocations needs no scan at start-up.
  if (!procAvailable || names.length === 0) return killed
  for (const [dir, pgid] of groupsByEnv(ALLOC_DIR_VAR)) {
    const id = basename(dir)
    if (exclude.has(id) || !parseAllocationId(id) || allocationDir(allocationsDir, id) !== dir) continue
    if (killed.some((k) => k.pgid === pgid)) continue
    signalGroup(pgid, 'SIGKILL')
    killed.push({ allocationId: id, pgid })
  }
  return killed
}
