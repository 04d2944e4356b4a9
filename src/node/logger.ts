// The agent's logger: pino, one JSON object per line on stderr (for log shippers and `jq`), or
// pino-pretty's one-line text when a person is watching (stderr is a terminal, or --log-format
// pretty). Every line carries `node` (the node's name); lines about a job carry `job`, and lines
// about one run of it also `alloc` (`<job>.<index>.<attempt>`); `part` names the agent's part
// (host, core, exec, api). stdout is not used: it carries only the agent's ready line.
import { pino, type Logger } from 'pino'
import pretty from 'pino-pretty'

/**
 * JSON lines to stderr are written in batches: at least this many bytes, or what waits when
 * LOG_FLUSH_MS passed since the first line of the batch. A busy agent logs a few lines per job
 * (its events), and one write per line (a syscall on the thread pool, and the reader woken) was
 * a tenth of its CPU. What waits is written on exit; a SIGKILL loses at most LOG_FLUSH_MS of lines.
 */
const LOG_BATCH_BYTES = 4096
/** The longest a JSON line waits for its batch (only while lines wait: no timer when idle). */
const LOG_FLUSH_MS = 100

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
  if (!human) return opts.destination === undefined ? batchedStderr(options) : pino(options, opts.destination)
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

/** Every batched logger's flush, run on exit (one listener, however many agents a process runs). */
const flushOnExit = new Set<() => void>()
process.once('exit', () => { for (const flush of flushOnExit) flush() })

/** pino on fd 2, written in batches (see LOG_BATCH_BYTES and LOG_FLUSH_MS). */
function batchedStderr(options: { level: string; base: Record<string, string> }): Logger {
  // Synchronous writes of whole batches: no thread-pool round trip per write, and what waits is
  // all in `waiting`, which the exit handler writes out in order.
  const dest = pino.destination({ fd: 2, sync: true })
  let waiting = ''
  let timer: NodeJS.Timeout | undefined
  const flush = (): void => {
    if (timer !== undefined) clearTimeout(timer)
    timer = undefined
    if (waiting === '') return
    const batch = waiting
    waiting = ''
    dest.write(batch)
  }
  flushOnExit.add(flush)
  return pino(options, {
    write: (line: string) => {
      waiting += line
      if (waiting.length >= LOG_BATCH_BYTES) flush()
      else timer ??= setTimeout(flush, LOG_FLUSH_MS).unref()
    },
  })
}
