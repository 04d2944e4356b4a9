// Removing labs: one run's namespaces and processes, the leftovers of runs whose owner died
// (a crashed script, a killed test worker), and the check that nothing of a run remains.
import { readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { leftoverRuns } from './names.js'
import { destroyNamespacesSync, isRunning, listNamespacesSync } from './netns.js'

/** Where run dirs live unless the caller names one; each is named after its run's prefix. */
export const RUNS_ROOT = join(tmpdir(), 'murmur-lab')

/** What was still there after a teardown: a clean one leaves both empty. */
export interface Leftovers {
  namespaces: string[]
  /** Pids of processes started for the run (by command line or working directory under its run dir). */
  processes: number[]
}

/**
 * Removes the labs of runs whose owner process is gone, and their run dirs under RUNS_ROOT.
 * A lab whose owner lives (another engineer's run, a parallel CI job) is left alone.
 */
export function sweepLeftovers(log: (line: string) => void): string[] {
  const swept: string[] = []
  for (const run of leftoverRuns(listNamespacesSync(), isRunning)) {
    log(`removing the leftovers of an earlier run whose owner is gone: ${run.namespaces.join(' ')}`)
    destroyNamespacesSync(run.namespaces)
    swept.push(run.prefix)
  }
  let dirs: string[] = []
  try {
    dirs = readdirSync(RUNS_ROOT)
  } catch {
    return swept
  }
  for (const dir of dirs) {
    const owner = /^mlab-(\d+)-[0-9a-f]{4,8}$/.exec(dir)
    if (owner !== null && !isRunning(Number(owner[1]))) rmSync(join(RUNS_ROOT, dir), { recursive: true, force: true })
  }
  return swept
}

/** Processes whose command line names `runDir` or that work inside it (an agent's jobs). */
export function processesUnder(runDir: string): number[] {
  const found: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const pid = Number(entry)
    if (pid === process.pid) continue
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      let cwd = ''
      try {
        cwd = readlinkSync(`/proc/${pid}/cwd`)
      } catch {
        // a kernel thread, or gone
      }
      if ((cmdline.includes(runDir) || cwd === runDir || cwd.startsWith(`${runDir}/`)) && isRunning(pid)) found.push(pid)
    } catch {
      // gone meanwhile
    }
  }
  return found
}

/** What remains of a run: its namespaces (by prefix) and its processes. */
export function leftoversOf(prefix: string, runDir: string): Leftovers {
  return {
    namespaces: listNamespacesSync().filter((n) => n.startsWith(`${prefix}-`)),
    processes: processesUnder(runDir),
  }
}
