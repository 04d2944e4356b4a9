// `murmur logs JOB [--follow] [--stderr] [--index N] [--attempt N]`: an allocation's output,
// fetched through any node from whichever node ran it.
import { ApiClient, CLIENT_OPTIONS, CLIENT_USAGE, clientOptions } from '../client.js'
import type { Command } from '../command.js'
import { FlagError, parseFlags, parseInteger } from '../flags.js'
import { followJob, LogCursor } from '../job-follow.js'

const USAGE = `usage: murmur logs JOB [--follow] [--stderr] [--index N] [--attempt N] [--api URL]

Prints the output of one instance of JOB (by default instance 0, its latest attempt).

flags:
  --follow             keep printing as the output grows, until the job (or the chosen
                       attempt) ends; a restarted instance is followed into its new attempt
  --stderr             the standard error instead of the standard output
  --index N            which instance (default 0)
  --attempt N          which attempt (default the latest)
${CLIENT_USAGE}
`

export const logsCommand: Command = {
  usage: USAGE,
  async run(argv, env) {
    const { values, positionals } = parseFlags({
      args: argv,
      options: {
        ...CLIENT_OPTIONS, follow: { type: 'boolean', short: 'f' }, stderr: { type: 'boolean' },
        index: { type: 'string' }, attempt: { type: 'string' },
      },
      allowPositionals: true,
    })
    const [id, ...extra] = positionals
    if (id === undefined || id === '') throw new FlagError('missing the JOB whose output to print')
    if (extra.length > 0) throw new FlagError(`expected one JOB, got ${positionals.length}`)
    const index = values.index === undefined ? 0 : parseInteger(values.index, '--index', 0, 9_999)
    const attempt = values.attempt === undefined ? undefined : parseInteger(values.attempt, '--attempt', 1)
    const stream = values.stderr === true ? 'stderr' : 'stdout'
    const client = new ApiClient(clientOptions(values, env))

    if (values.follow !== true) {
      // Without --attempt the server picks the latest attempt on every read, which is what we want.
      await new LogCursor(client, id, index, attempt, stream, process.stdout).drain()
      return 0
    }
    await followJob({
      client, jobId: id, index, states: false, outputs: { [stream]: process.stdout },
      notice: (line) => { process.stderr.write(`murmur: ${line}\n`) },
      ...(attempt === undefined ? {} : { attempt }),
    })
    return 0
  },
}
