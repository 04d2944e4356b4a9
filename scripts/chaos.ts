// `npm run chaos`: a seeded chaos run on real agents (separate OS processes on 127.0.0.1). It
// submits jobs while SIGKILLing, SIGSTOPping and SIGTERMing agents, then checks the contract's
// promises against what really ran and prints a report (see scripts/chaos/README.md).
// Usage: npm run chaos -- --nodes 5 --jobs 200 --seconds 60 --seed S [--json] [--keep]
// Exit status: 0 when every invariant held (no acked job lost, no success that never ran, no
// overcommit, no success taken back), 1 when one broke (the run dir is kept, and the replay command
// and fault schedule are printed), 2 on bad flags or when the run itself could not finish.
import '../src/node/polyfill.js'
import { parseChaosArgs, USAGE } from './chaos/options.js'
import { formatReport } from './chaos/report.js'
import { runChaos } from './chaos/runner.js'

let options
try {
  options = parseChaosArgs(process.argv.slice(2), Math.floor(Math.random() * 2 ** 31))
} catch (err) {
  process.stderr.write(`chaos: ${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`)
  process.exit(2)
}

const abort = new AbortController()
// Ctrl-C ends the run early but still stops every agent; a second one exits at once.
process.once('SIGINT', () => {
  process.stderr.write('chaos: interrupted, stopping everything (Ctrl-C again to exit now)\n')
  abort.abort()
  process.once('SIGINT', () => process.exit(130))
})

const started = Date.now()
try {
  const report = await runChaos(options, {
    signal: abort.signal,
    log: (line) => process.stderr.write(`[chaos +${((Date.now() - started) / 1000).toFixed(1)}s] ${line}\n`),
  })
  process.stdout.write(`${options.json ? JSON.stringify(report, null, 2) : formatReport(report)}\n`)
  process.exitCode = abort.signal.aborted ? 130 : report.ok ? 0 : 1
} catch (err) {
  process.stderr.write(`chaos: the run could not finish: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exitCode = 2
}
