// `murmur run [flags] -- CMD [ARGS...]`: submits a job; prints its id, or with --wait follows it
// to the end and exits with its exit code.
import type { JobStatus } from '../../core/job-types.js'
import { ApiClient, CLIENT_USAGE, clientOptions } from '../client.js'
import type { Command } from '../command.js'
import type { Env } from '../flags.js'
import { exitCodeOf, followJob, UNKNOWN_JOB_GRACE_MS } from '../job-follow.js'
import { parseRunArgs } from '../run-flags.js'

const USAGE = `usage: murmur run [flags] [--] CMD [ARGS...]

Submits a job to the cluster through the node at --api and prints its id. Flags come before the
command; everything after '--' (or from the first word that is not a flag) is the command.

flags:
  --name NAME                 job name (default: the command's basename)
  --cpu N                     cpus per instance (default 0.1)
  --mem MB                    memory per instance in MB (default 64)
  --count N                   instances, each placed on its own (default 1)
  --type batch|service        batch runs to completion, service is kept running (default batch)
  --label-constraint K=V      run only on nodes with label K=V (K!=V: not V); repeatable
  --env K=V                   environment variable; repeatable
  --timeout S                 kill an attempt after S seconds (default 0: none)
  --retries N                 retries of a failed instance (default 0)
  --backoff MS                wait between retries (default 1000)
  --idempotency-key KEY       the same key submits once and answers the same id
  --no-replace                a run nobody can see (its node cut off) is not replaced for 5 min
  --reconcile MODE            when a partition heals with two runs of one instance, which stays:
                              longest_running (default), keep_original, keep_replacement, best_score
  --stop-after S              a node cut off from the job's other storing nodes for S seconds
                              stops its run (default: never)
  --wait                      follow the job until it ends: states on stderr, its output on
                              stdout/stderr; exit with its exit code (cancelled: 130).
                              Ctrl-C stops waiting; the job keeps running (murmur stop JOB)
${CLIENT_USAGE}
`

export const runCommand: Command = {
  usage: USAGE,
  async run(argv: string[], env: Env) {
    const request = parseRunArgs(argv)
    const client = new ApiClient(clientOptions(request.client, env))
    const headers: Record<string, string> = request.idempotencyKey === undefined ? {} : { 'idempotency-key': request.idempotencyKey }
    const { id } = await client.post<{ id: string }>('/v1/jobs', request.spec, { headers })
    if (!request.wait) {
      process.stdout.write(`${id}\n`)
      return 0
    }

    // With --wait, stdout carries the job's own output only; the id goes with the notices.
    const notice = (line: string): void => { process.stderr.write(`murmur: ${line}\n`) }
    notice(`job ${id} submitted`)
    const count = request.spec.count ?? 1
    if (count > 1) notice(`job ${id} has ${count} instances; following the output of instance 0`)
    const job: JobStatus = await followJob({
      client, jobId: id, index: 0, states: true, notice, unknownGraceMs: UNKNOWN_JOB_GRACE_MS,
      outputs: { stdout: process.stdout, stderr: process.stderr },
    })
    const code = exitCodeOf(job)
    notice(`job ${id} ${job.state}${job.state === 'failed' ? ` (exit ${code})` : ''}`)
    return code
  },
}
