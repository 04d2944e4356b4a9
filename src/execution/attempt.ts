// What the supervisor holds for one running attempt, and how its end becomes an ExitInfo.
import { appendFileSync } from 'node:fs'
import type { AllocationCgroup } from './cgroup.js'
import type { ExitInfo, ExitReason, LaunchSpec } from './types.js'

export interface Attempt {
  spec: LaunchSpec
  dir: string
  /** The leader's pid, which is also the process group id; undefined until it is spawned. */
  pid: number | undefined
  startedAt: number
  onExit: (info: ExitInfo) => void
  /** null in rss-poll mode, or when this attempt's group could not be made or joined. */
  cgroup: AllocationCgroup | null
  /** Why we are ending it; the first reason wins. */
  stopReason: ExitReason | null
  message?: string
  timeoutTimer?: { cancel(): void }
  killTimer?: NodeJS.Timeout
  /** Epoch ms when SIGKILL went out. */
  killedAt?: number
  leaderExited: boolean
  done: Promise<void>
  resolveDone: () => void
}

/**
 * How it ended: our own reason if we ended it (first reason wins), else oom if the kernel
 * OOM-killed anything in its cgroup, else it exited by itself.
 */
export function exitInfo(attempt: Attempt, code: number | null, signal: string | null, finishedAt: number, oomKills: number): ExitInfo {
  const reason = attempt.stopReason ?? (oomKills > 0 ? 'oom' : 'exited')
  const message = attempt.message
    ?? (reason === 'oom' ? `the kernel OOM-killed ${oomKills} process(es) at memory.max (${attempt.spec.memoryMb} MB)` : undefined)
  return {
    allocationId: attempt.spec.allocationId, exitCode: code, signal, reason,
    startedAt: attempt.startedAt, finishedAt, ...(message ? { message } : {}),
  }
}

export function spawnFailedInfo(spec: LaunchSpec, startedAt: number, message: string): ExitInfo {
  return { allocationId: spec.allocationId, exitCode: null, signal: null, reason: 'spawn-failed', message, startedAt, finishedAt: Date.now() }
}

/** So that `murmur logs --stderr` says why nothing ran. Best effort. */
export function noteStartFailure(stderrPath: string, spec: LaunchSpec, message: string): void {
  try {
    appendFileSync(stderrPath, `murmur: cannot start ${JSON.stringify(spec.command)}: ${message}\n`)
  } catch {
    // no directory or disk full: the message still reaches onExit
  }
}
