// `murmur status [JOB] [--json]`: every job as a table, or one job in detail.
import type { JobStatus } from '../../core/job-types.js'
import { ApiClient, CLIENT_OPTIONS, CLIENT_USAGE, clientOptions } from '../client.js'
import type { Command } from '../command.js'
import { FlagError, parseFlags } from '../flags.js'
import { formatJob, formatJobs } from '../job-format.js'

const USAGE = `usage: murmur status [JOB] [--json] [--api URL]

Without JOB, a table of every job the cluster knows. With JOB, that job in detail: its spec,
state, why it is pending, and every attempt of every instance.

flags:
  --json               print the API's JSON answer
${CLIENT_USAGE}
`

export const statusCommand: Command = {
  usage: USAGE,
  async run(argv, env) {
    const { values, positionals } = parseFlags({
      args: argv, options: { ...CLIENT_OPTIONS, json: { type: 'boolean' } }, allowPositionals: true,
    })
    if (positionals.length > 1) throw new FlagError(`expected at most one JOB, got ${positionals.length}`)
    const id = positionals[0]
    const client = new ApiClient(clientOptions(values, env))
    const json = (answer: unknown): void => { process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`) }
    if (id === undefined) {
      const answer = await client.get<{ jobs: JobStatus[] }>('/v1/jobs')
      if (values.json === true) json(answer)
      else process.stdout.write(answer.jobs.length === 0 ? 'no jobs\n' : formatJobs(answer.jobs, Date.now()))
      return 0
    }
    if (id === '') throw new FlagError('JOB must not be empty')
    const job = await client.get<JobStatus>(`/v1/jobs/${encodeURIComponent(id)}`)
    if (values.json === true) json(job)
    else process.stdout.write(formatJob(job, Date.now()))
    return 0
  },
}
