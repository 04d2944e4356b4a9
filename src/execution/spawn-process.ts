// Starting the OS process for one attempt: its own process group and session, output straight
// into the log files, and in cgroup mode behind a gate until it has been moved into its cgroup.
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, openSync } from 'node:fs'
import type { Writable } from 'node:stream'

/**
 * A gate shell (the job's argv is never parsed as a script: "$@" is exec'd verbatim) waits for a
 * line on fd 3, which the supervisor sends once it has moved the gate into the allocation's
 * cgroup, and then becomes the job. So everything the job forks is born inside the group.
 */
const GATE_SCRIPT = 'read -r _ <&3 || exit 125; exec 3<&-; exec "$@"'
/** POSIX sh is at /bin/sh on every Linux distribution and image we target. */
const GATE_SHELL = '/bin/sh'

export interface SpawnRequest {
  argv: string[]
  cwd: string
  env: Record<string, string>
  stdoutPath: string
  stderrPath: string
  /** Start behind the gate (cgroup mode); release it with the returned gate's end(). */
  gated: boolean
}

/**
 * Spawns the process with `detached` (setsid: it leads a new session and process group, so
 * kill(-pid) reaches everything it forks and no terminal signal from the agent's does). stdout and
 * stderr are files opened in append mode and handed to the child, not pipes through Node, so
 * output keeps landing there if the agent dies. Throws on synchronous failures (EMFILE, ENOSPC,
 * bad arguments); asynchronous ones (ENOENT) come as the child's 'error' with pid undefined.
 */
export function spawnProcess(req: SpawnRequest): { child: ChildProcess; gate: Writable | null } {
  const fds: number[] = []
  try {
    fds.push(openSync(req.stdoutPath, 'a'), openSync(req.stderrPath, 'a'))
    const argv = req.gated ? [GATE_SHELL, '-c', GATE_SCRIPT, 'murmur-gate', ...req.argv] : req.argv
    const child = spawn(argv[0] ?? '', argv.slice(1), {
      cwd: req.cwd,
      env: req.env,
      detached: true,
      stdio: ['ignore', fds[0], fds[1], ...(req.gated ? ['pipe' as const] : [])],
    })
    const gate = req.gated ? (child.stdio[3] as Writable | null | undefined) ?? null : null
    // The gate dies first if the attempt is stopped at once; its exit is what gets reported.
    gate?.on('error', () => {})
    return { child, gate }
  } finally {
    // The child has its own copies by now (spawn returns after exec); ours would only leak.
    for (const fd of fds) closeSync(fd)
  }
}

/** setTimeout fires at once for delays above 2^31-1 ms (~24.8 days); longer timeouts are chained. */
const MAX_TIMER_MS = 2 ** 31 - 1

/** setTimeout for any delay, chaining timers past MAX_TIMER_MS. */
export function longTimeout(fn: () => void, ms: number): { cancel(): void } {
  let timer: NodeJS.Timeout
  const arm = (left: number): void => {
    timer = setTimeout(() => (left > MAX_TIMER_MS ? arm(left - MAX_TIMER_MS) : fn()), Math.min(left, MAX_TIMER_MS))
  }
  arm(ms)
  return { cancel: () => clearTimeout(timer) }
}
