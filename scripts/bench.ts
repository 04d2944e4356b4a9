// `npm run bench`: measures what issue 19 sets goals for, on real agents in separate processes
// (see bench/README.md for what each figure means and how it is taken).
// Usage: npm run bench -- [--quick] [--json] [--only a,b] [--runs N] ... (--help lists every flag)
// Progress goes to stderr; stdout gets the markdown table and, with --json, one JSON object as its
// last line. bench/results.json is written either way. Everything listens on 127.0.0.1 with ports
// chosen by the OS, and every agent is stopped before exit, also on failure and on Ctrl-C.
import '../src/node/polyfill.js'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { stopAllClusters } from './bench/cluster.js'
import { describeMachine } from './bench/machine.js'
import { parseBenchArgs, USAGE } from './bench/options.js'
import { jsonText, markdownTable, resultsJson } from './bench/report.js'
import { runBench } from './bench/runner.js'

if (process.argv.includes('--help')) {
  process.stdout.write(`${USAGE}\n`)
  process.exit(0)
}
let options
try {
  options = parseBenchArgs(process.argv.slice(2))
} catch (err) {
  process.stderr.write(`bench: ${(err as Error).message}\n${USAGE}\n`)
  process.exit(2)
}

const started = Date.now()
const log = (line: string): void => { process.stderr.write(`[bench +${((Date.now() - started) / 1000).toFixed(1)}s] ${line}\n`) }

// Ctrl-C (or a SIGTERM from a CI runner) stops every agent before exiting; a second one exits at once.
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    log(`${sig}: stopping every agent`)
    process.once(sig, () => process.exit(130))
    void stopAllClusters().finally(() => process.exit(130))
  })
}

const machine = describeMachine()
try {
  const results = await runBench(options, log)
  const json = resultsJson(results, options, machine)
  mkdirSync(dirname(options.out), { recursive: true })
  writeFileSync(options.out, `${jsonText(json, 2)}\n`)
  log(`wrote ${options.out} (${((Date.now() - started) / 1000).toFixed(1)} s in all)`)
  process.stdout.write(markdownTable(results, options))
  if (options.json) process.stdout.write(`${jsonText(json)}\n`)
  process.exitCode = results.errors.length > 0 ? 1 : 0
} catch (err) {
  log(`the bench could not finish: ${(err as Error).stack ?? String(err)}`)
  process.exitCode = 2
} finally {
  await stopAllClusters()
}
