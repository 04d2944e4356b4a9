// The lab tier's guard: after its last file, nothing of any lab this run made may remain. Each
// file tears its own lab down and checks it; this catches what a crashed or killed test worker
// left (its namespaces outlive it), reports it as a failure, and removes it.
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
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
  const before = new Set([...labRuns(listNamespacesSync()).keys(), ...runDirs()])
  return () => {
    // Labs that appeared during the tier and whose owner (a test worker) is gone now.
    const ours = (prefix: string): boolean => !before.has(prefix) && !isRunning(Number(prefix.split('-')[1]))
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
    throw new Error(`the lab tier left namespaces [${namespaces.join(' ')}] and processes [${processes.join(' ')}] behind (now removed)`)
  }
}
