// The vocabulary of src/execution: what the node asks to run and what it hears back.
import type { Logger } from 'pino'

/**
 * One attempt of one allocation, as the node asks the supervisor to run it. Restart and backoff
 * are decided by the core: attempt N+1 is simply another LaunchSpec with a new allocationId.
 */
export interface LaunchSpec {
  /**
   * `${jobId}.${index}.${attempt}`: a safe single path segment (letters, digits, `.`, `_`, `-`,
   * starting with a letter or digit). The job id, index and attempt given to the process as
   * MURMUR_JOB_ID, MURMUR_ALLOC_INDEX and MURMUR_ATTEMPT are parsed from it, so they cannot disagree.
   */
  allocationId: string
  /** argv, run without a shell: argv[0] is looked up on PATH, nothing is expanded. */
  command: string[]
  /** Put over the minimal base env (PATH, HOME, LANG); the MURMUR_* variables always win. */
  env: Record<string, string>
  /** Hard memory limit for the whole process tree, in MiB. */
  memoryMb: number
  /** CPU share, in cores (0.5 = half a core); enforced only in cgroup mode (cpu.max). */
  cpu: number
  /** Wall-clock limit in ms from the start; 0 = none. */
  timeoutMs: number
}

/**
 * Why an attempt ended:
 * - `exited`: the process ended by itself (exit code or a signal nobody here sent);
 * - `timeout`: timeoutMs passed and we stopped it;
 * - `killed`: stop() was called (job cancelled, node drained or shut down);
 * - `oom`: it used more than memoryMb (cgroup OOM kill, or the RSS poller's kill);
 * - `spawn-failed`: it never ran (missing binary, bad spec, duplicate id, no disk...).
 */
export type ExitReason = 'exited' | 'timeout' | 'killed' | 'oom' | 'spawn-failed'

/** What the supervisor reports once per start(), always asynchronously, never by throwing. */
export interface ExitInfo {
  allocationId: string
  /** The leader's exit code, or null if it died by a signal or never ran. */
  exitCode: number | null
  /** The signal that ended the leader, e.g. 'SIGKILL', or null. */
  signal: string | null
  reason: ExitReason
  /** Human-readable detail, set for spawn-failed and oom. */
  message?: string
  /** Epoch ms; for spawn-failed, the time of the failed attempt. */
  startedAt: number
  finishedAt: number
}

/**
 * How memoryMb is enforced on this machine:
 * - `cgroup`: a cgroup v2 child group per allocation with memory.max (the kernel enforces it);
 * - `rss-poll`: the group's summed RSS is read from /proc and the group is killed when over;
 * - `none`: no /proc either (not Linux); limits are not enforced.
 */
export type MemoryEnforcement = 'cgroup' | 'rss-poll' | 'none'

export interface SupervisorOptions {
  /** Directory holding one sub-directory per allocation (its cwd, HOME and logs). Created. */
  allocationsDir: string
  /** Time between SIGTERM and SIGKILL when stopping; default DEFAULT_GRACE_MS. */
  graceMs?: number
  /** RSS poll interval in rss-poll mode; default DEFAULT_RSS_POLL_MS. */
  rssPollMs?: number
  /** cgroup v2 mount point; default '/sys/fs/cgroup'. null forces rss-poll. */
  cgroupRoot?: string | null
  /** cgroup (relative to cgroupRoot) to create our groups under; default: our own cgroup. */
  cgroupParent?: string
  logger?: Logger
}
