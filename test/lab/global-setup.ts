// The lab tier's guard: after its last file, nothing of any lab this run made may remain. Each
// file tears its own lab down and checks it; this catches what a crashed or killed test worker
// left (its namespaces outlive it), reports it as a failure, and removes it. The run's labs are
// told from other people's by a session tag every lab of this run carries (LAB_SESSION_ENV).
import { randomBytes } from 'node:crypto'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { LAB_SESSION_ENV } from '../../scripts/lab/lab.js'
import { labRuns } from '../../scripts/lab/names.js'
import { isRunning, listNamespacesSync } from '../../scripts/lab/netns.js'
import { processesUnder, RUNS_ROOT, sweepLeftovers } from '../../scripts/lab/teardown.js'

function runDirs(): string[] {
  try {
    return readdirSync(RUNS_ROOT)
  } catch {
    return []
  }
}

export default function setup(): () => void {
  const session = randomBytes(2).toString('hex')
  // Test workers start after this and inherit it.
  process.env[LAB_SESSION_ENV] = session
  return () => {
    // This run's labs (`mlab-<pid>-<session><tag>`) whose owner (a test worker) is gone now.
    const ours = (prefix: string): boolean => prefix.split('-')[2]?.startsWith(session) === true && !isRunning(Number(prefix.split('-')[1]))
    const namespaces = [...labRuns(listNamespacesSync())].filter(([prefix]) => ours(prefix)).flatMap(([, r]) => r.namespaces)
    const processes = runDirs().filter(ours).flatMap((d) => processesUnder(join(RUNS_ROOT, d)))
    if (namespaces.length === 0 && processes.length === 0) return
    sweepLeftovers(() => undefined)
    for (const pid of processes) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // gone meanwhile
      }
    }
    // A throw here is only logged (vitest's teardown): the exit status must say it too.
    process.exitCode = 1
    throw new Error(`the lab tier left namespaces [${namespaces.join(' ')}] and processes [${processes.join(' ')}] behind (now removed)`)
  }
}
