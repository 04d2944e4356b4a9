// The shape of one `murmur` subcommand (one file each in ./commands).
import type { Env } from './flags.js'

export interface Command {
  /** Full help text, printed by `murmur <cmd> --help`. */
  readonly usage: string
  /**
   * Runs the command and resolves to its exit code. Throws FlagError for bad input (exit 2) and
   * CliError for failures (its exit code); the dispatcher prints them as one `murmur: ` line.
   */
  run(argv: string[], env: Env): Promise<number>
}
