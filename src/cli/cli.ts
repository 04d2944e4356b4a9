// `murmur <command> [flags]`: dispatches to a subcommand and turns its failures into one line on
// stderr and an exit code (2 for bad usage, 1 or the command's own code otherwise).
import { readFileSync } from 'node:fs'
import { COMMANDS } from './commands/index.js'
import { CliError, type Env, FlagError, oneLine } from './flags.js'

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length))
  const lines = Object.entries(COMMANDS).map(([name, entry]) => `  ${name.padEnd(width)}  ${entry.summary}`)
  return `usage: murmur <command> [flags]

commands:
${lines.join('\n')}

Run 'murmur <command> --help' for a command's flags.
`
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }
  return `murmur ${pkg.version ?? 'unknown'}\n`
}

/** `--help`/`-h` anywhere before a `--` separator. */
function wantsHelp(argv: string[]): boolean {
  const end = argv.indexOf('--')
  return (end === -1 ? argv : argv.slice(0, end)).some((a) => a === '--help' || a === '-h')
}

/** Runs the CLI and resolves to the process exit code. */
export async function runCli(argv: string[], env: Env): Promise<number> {
  const [first, ...rest] = argv
  if (first === undefined) {
    process.stderr.write(usage())
    return 2
  }
  if (first === '--help' || first === '-h' || first === 'help') {
    const topic = rest[0]
    const entry = topic !== undefined && Object.hasOwn(COMMANDS, topic) ? COMMANDS[topic] : undefined
    process.stdout.write(entry === undefined ? usage() : (await entry.load()).usage)
    return 0
  }
  if (first === '--version' || first === '-V') {
    process.stdout.write(version())
    return 0
  }
  const entry = Object.hasOwn(COMMANDS, first) ? COMMANDS[first] : undefined
  if (entry === undefined) {
    const what = first.startsWith('-') ? `unknown option '${first}'` : `unknown command '${first}'`
    process.stderr.write(`murmur: ${what} (see murmur --help)\n`)
    return 2
  }
  try {
    const command = await entry.load()
    if (wantsHelp(rest)) {
      process.stdout.write(command.usage)
      return 0
    }
    return await command.run(rest, env)
  } catch (err) {
    process.stderr.write(`murmur: ${oneLine(err)}\n`)
    if (err instanceof FlagError) return 2
    if (err instanceof CliError) return err.exitCode
    return 1
  }
}
