// `murmur drain NODE`: no new work goes to NODE; its jobs move elsewhere.
import { ApiClient, CLIENT_OPTIONS, CLIENT_USAGE, clientOptions } from '../client.js'
import type { Command } from '../command.js'
import { FlagError, parseFlags } from '../flags.js'

const USAGE = `usage: murmur drain NODE [--deadline S] [--disable] [--api URL]

Drains NODE (a name or peer id): no new work goes to it, and its runs move to other nodes.
A service's replacement starts elsewhere before its old copy stops; a batch run may finish,
and one still running at the deadline is stopped and placed again (it does not use up a
restart). The drain survives a restart of NODE.

flags:
  --deadline S         seconds batch runs may keep running (default 60)
  --disable            stop draining: NODE takes new work again
${CLIENT_USAGE}
`

const MAX_DEADLINE_S = 30 * 86_400

export const drainCommand: Command = {
  usage: USAGE,
  async run(argv, env) {
    const { values, positionals } = parseFlags({
      args: argv, options: { ...CLIENT_OPTIONS, deadline: { type: 'string' }, disable: { type: 'boolean' } }, allowPositionals: true,
    })
    const [node, ...extra] = positionals
    if (node === undefined || node === '') throw new FlagError('missing the NODE to drain (a name or peer id; see murmur nodes)')
    if (extra.length > 0) throw new FlagError(`expected one NODE, got ${positionals.length}`)
    const body: { enable: boolean; deadlineMs?: number } = { enable: values.disable !== true }
    if (values.deadline !== undefined) {
      const s = Number(values.deadline)
      if (values.deadline.trim() === '' || !Number.isFinite(s) || s < 0 || s > MAX_DEADLINE_S) {
        throw new FlagError(`--deadline: '${values.deadline}' is not a number of seconds from 0 to ${MAX_DEADLINE_S}`)
      }
      if (values.disable === true) throw new FlagError('--deadline and --disable do not go together')
      body.deadlineMs = Math.round(s * 1000)
    }
    const client = new ApiClient(clientOptions(values, env))
    const res = await client.post<{ id: string; name?: string }>(`/v1/nodes/${encodeURIComponent(node)}/drain`, body)
    const name = res.name ?? node
    process.stdout.write(body.enable
      ? `murmur: node ${name} is draining; its runs move to other nodes (watch: murmur nodes, murmur status)\n`
      : `murmur: node ${name} no longer drains; it takes new work\n`)
    return 0
  },
}
