// `npm run lab`: several hosts made of Linux network namespaces on one bridge, one agent each,
// found by mDNS; a real link cut and its heal, checked against the contract (scripts/lab/README.md).
// Needs root (CI runs as root). Usage: see USAGE in scripts/lab/options.ts.
// Exit status: 0 when every invariant held, 1 when one broke, 2 on bad flags or when the lab could
// not be built or the run could not finish (the report says where). Whatever happens, every
// namespace and process of the run is removed.
import '../src/node/polyfill.js'
import { Lab } from './lab/lab.js'
import { API_PORT } from './lab/names.js'
import { parseLabArgs, USAGE, type LabRunOptions } from './lab/options.js'
import { formatReport } from './lab/report.js'
import { runLab } from './lab/scenario.js'
import { sweepLeftovers } from './lab/teardown.js'

let options: LabRunOptions
try {
  options = parseLabArgs(process.argv.slice(2))
} catch (err) {
  process.stderr.write(`lab: ${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`)
  process.exit(2)
}

const started = Date.now()
const log = (line: string): void => { process.stderr.write(`${line}\n`) }
if (options.sweep) {
  const swept = sweepLeftovers(log)
  log(`lab: removed ${swept.length} leftover run(s)`)
  process.exit(0)
}

const abort = new AbortController()
let holding: (() => void) | undefined
/**
 * A second signal sooner than this after the first is the same Ctrl-C reaching us twice (the
 * terminal signals the whole process group, and npm or a wrapper may relay it): not a second press.
 */
const SECOND_SIGNAL_MS = 1_000
let firstSignalAt = 0
// Ctrl-C or SIGTERM ends the run early and still tears the lab down; a second one exits at once
// (the exit handler Lab installed still removes the namespaces, synchronously).
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (firstSignalAt === 0) {
      firstSignalAt = Date.now()
      log(`lab: ${sig}, tearing the lab down (again to exit now)`)
      abort.abort()
      holding?.()
    } else if (Date.now() - firstSignalAt > SECOND_SIGNAL_MS) {
      process.exit(130)
    }
  })
}

/** --hold: how to reach the lab by hand, then wait for Ctrl-C. */
async function hold(lab: Lab): Promise<void> {
  if (!options.hold || abort.signal.aborted) return
  const lines = lab.hostNamesList().map((h) => {
    const { ns, addr } = lab.hostInfo(h)
    return `  ${h}: ip netns exec ${ns} node bin/murmur.js nodes --api http://${addr}:${API_PORT} --token ${lab.token}\n` +
      `      curl --unix-socket ${lab.api(h).socketPath} -H 'authorization: Bearer ${lab.token}' http://lab/v1/nodes`
  })
  log(`lab: holding; reach the agents with:\n${lines.join('\n')}\nCtrl-C to tear down`)
  await new Promise<void>((resolve) => { holding = resolve })
}

try {
  const report = await runLab(options, { signal: abort.signal, log, beforeTeardown: hold })
  process.stdout.write(`${options.json ? JSON.stringify(report, null, 2) : formatReport(report)}\n`)
  log(`lab: done in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  process.exitCode = abort.signal.aborted ? 130 : report.error !== undefined ? 2 : report.ok ? 0 : 1
} catch (err) {
  process.stderr.write(`lab: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exitCode = 2
}
