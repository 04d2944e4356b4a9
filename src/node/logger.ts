// The agent's logger: pino, one JSON object per line on stderr (for log shippers and `jq`), or
// pino-pretty's one-line text when a person is watching (stderr is a terminal, or --log-format
// pretty). Every line carries `node` (the node's name); lines about a job carry `job`, and lines
// about one run of it also `alloc` (`<job>.<index>.<attempt>`); `part` names the agent's part
// (host, core, exec, api). stdout is not used: it carries only the agent's ready line.
import { pino, type Logger } from 'pino'
import pretty from 'pino-pretty'

export interface LoggerOptions {
  /** The node's name, on every line. */
  name: string
  level: string
  format?: 'auto' | 'json' | 'pretty'
  /** Where lines go (tests); stderr otherwise. */
  destination?: NodeJS.WritableStream & { isTTY?: boolean }
}

export function createLogger(opts: LoggerOptions): Logger {
  const out = opts.destination ?? process.stderr
  const format = opts.format ?? 'auto'
  const human = format === 'pretty' || (format === 'auto' && out.isTTY === true)
  const options = { level: opts.level, base: { node: opts.name } }
  if (!human) return opts.destination === undefined ? pino(options, pino.destination({ fd: 2, sync: false })) : pino(options, opts.destination)
  return pino(options, pretty({
    destination: out,
    // Synchronous: a crashing agent's last lines are the ones that explain it.
    sync: true,
    colorize: out.isTTY === true,
    translateTime: 'HH:MM:ss.l',
    singleLine: true,
    ignore: 'node,part,pid,hostname',
    messageFormat: (log, messageKey) => `${String(log['node'])}${log['part'] === undefined ? '' : ` ${String(log['part'])}`}: ${String(log[messageKey])}`,
  }))
}
