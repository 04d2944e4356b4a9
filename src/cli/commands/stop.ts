// `murmur stop JOB`: cancels a job everywhere; its processes are killed.
import { ApiClient, CLIENT_OPTIONS, CLIENT_USAGE, clientOptions } from '../client.js'
import type { Command } from '../command.js'
import { FlagError, parseFlags } from '../flags.js'

const USAGE = `usage: murmur stop JOB [--api URL]

Cancels JOB: it becomes 'cancelled' and the nodes running it kill its processes.

flags:
${CLIENT_USAGE}
`

export const stopCommand: Command = {
  usage: USAGE,
  async run(argv, env) {
    const { values, positionals } = parseFlags({ args: argv, options: CLIENT_OPTIONS, allowPositionals: true })
    const [id, ...extra] = positionals
    if (id === undefined || id === '') throw new FlagError('missing the JOB to stop')
    if (extra.length > 0) throw new FlagError(`expected one JOB, got ${positionals.length}`)
    const client = new ApiClient(clientOptions(values, env))
    await client.delete(`/v1/jobs/${encodeURIComponent(id)}`)
    process.stdout.write(`murmur: job ${id} cancelled\n`)
    return 0
  },
}
