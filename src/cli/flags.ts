// Shared flag handling for the `murmur` subcommands: strict parsing with one-line errors, and
// the small value parsers (ports, numbers, k=v pairs) every command needs.
import { parseArgs, type ParseArgsConfig } from 'node:util'

/** Bad command-line input. main.ts prints `murmur: <message>` and exits 2. */
export class FlagError extends Error {
  override readonly name = 'FlagError'
}

/** A failure while doing the work (API error, unreachable node...): one line, then `exitCode`. */
export class CliError extends Error {
  override readonly name = 'CliError'

  constructor(message: string, readonly exitCode = 1) {
    super(message)
  }
}

/** Environment variables, as process.env gives them. */
export type Env = Record<string, string | undefined>

/** `util.parseArgs` in strict mode, its errors turned into a short FlagError. */
export function parseFlags<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    // strict is parseArgs' default: unknown flags and missing values are errors.
    return parseArgs(config)
  } catch (err) {
    throw new FlagError(shortParseError(err))
  }
}

/** Node's messages run on with advice about `--`; the first sentence is the reason. */
function shortParseError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err)
  const first = message.split(/\.\s/, 1)[0] ?? message
  return (first.charAt(0).toLowerCase() + first.slice(1)).replace(/\.$/, '')
}

/** A TCP port; 0 means "any free port". */
export function parsePort(text: string, source: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN
  if (!(port >= 0 && port <= 65535)) throw new FlagError(`${source}: '${text}' is not a port (0-65535)`)
  return port
}

/** A number > 0 (decimals allowed). */
export function parsePositive(text: string, source: string): number {
  const value = /^\d+(\.\d+)?$|^\.\d+$/.test(text) ? Number(text) : NaN
  if (!(value > 0 && Number.isFinite(value))) throw new FlagError(`${source}: '${text}' is not a positive number`)
  return value
}

/** A whole number within [min, max]. */
export function parseInteger(text: string, source: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const value = /^-?\d+$/.test(text) ? Number(text) : NaN
  if (!(Number.isSafeInteger(value) && value >= min && value <= max)) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `${min}-${max}`
    throw new FlagError(`${source}: '${text}' is not a whole number (${range})`)
  }
  return value
}

/** Splits `k=v`; the key must be non-empty, the value may be. */
export function parseKeyValue(text: string, source: string): [string, string] {
  const eq = text.indexOf('=')
  if (eq <= 0) throw new FlagError(`${source}: '${text}' is not key=value`)
  return [text.slice(0, eq), text.slice(eq + 1)]
}

/** An env value, or undefined when unset or empty (an empty variable means "not set"). */
export function envValue(env: Env, name: string): string | undefined {
  const value = env[name]
  return value === undefined || value.trim() === '' ? undefined : value
}

/** A boolean env variable: 1/true/yes/on or 0/false/no/off. */
export function envBoolean(env: Env, name: string): boolean | undefined {
  const value = envValue(env, name)?.trim().toLowerCase()
  if (value === undefined) return undefined
  if (['1', 'true', 'yes', 'on'].includes(value)) return true
  if (['0', 'false', 'no', 'off'].includes(value)) return false
  throw new FlagError(`${name}: '${value}' is not a boolean (1/0, true/false)`)
}

/** A comma-separated env list, blanks dropped. */
export function envList(env: Env, name: string): string[] | undefined {
  const value = envValue(env, name)
  if (value === undefined) return undefined
  return value.split(',').map((s) => s.trim()).filter((s) => s !== '')
}

/** The env variable that backs a flag: `--data-dir` -> MURMUR_DATA_DIR. */
export function envNameOf(flag: string): string {
  return `MURMUR_${flag.replace(/^-+/, '').replace(/-/g, '_').toUpperCase()}`
}

/** One line, whatever the thrown thing was. */
export function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err)
  return text.replace(/\s*\n\s*/g, ' ').trim() || 'unknown error'
}
