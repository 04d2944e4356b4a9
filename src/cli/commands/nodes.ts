// `murmur nodes [--json]`: the cluster as one node sees it.
import type { NodeStatus } from '../../core/types.js'
import { ApiClient, CLIENT_OPTIONS, CLIENT_USAGE, clientOptions } from '../client.js'
import type { Command } from '../command.js'
import { parseFlags } from '../flags.js'
import { formatDuration, formatNumber, formatTable, shortId } from '../output.js'

const USAGE = `usage: murmur nodes [--json] [--api URL]

Lists the cluster's nodes as the node at --api sees them.

flags:
  --json               print the API's JSON answer
${CLIENT_USAGE}
`

/** The table `murmur nodes` prints, sorted by name. */
export function formatNodes(nodes: NodeStatus[]): string {
  const sorted = [...nodes].sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id))
  return formatTable(
    ['NAME', 'STATE', 'ID', 'CPU(free/total)', 'MEM(free/total)', 'ALLOCS', 'LAST-SEEN', 'API'],
    sorted.map((n) => [
      n.name,
      n.state,
      shortId(n.id),
      `${formatNumber(n.resources.free.cpu)}/${formatNumber(n.resources.total.cpu)}`,
      `${formatNumber(n.resources.free.memoryMb)}/${formatNumber(n.resources.total.memoryMb)}`,
      String(n.allocations),
      formatDuration(n.lastSeenMs),
      n.api,
    ]),
  )
}

export const nodesCommand: Command = {
  usage: USAGE,
  async run(argv, env) {
    const { values } = parseFlags({
      args: argv, options: { ...CLIENT_OPTIONS, json: { type: 'boolean' } }, allowPositionals: false,
    })
    const client = new ApiClient(clientOptions(values, env))
    const answer = await client.get<{ nodes: NodeStatus[] }>('/v1/nodes')
    process.stdout.write(values.json === true ? `${JSON.stringify(answer, null, 2)}\n` : formatNodes(answer.nodes))
    return 0
  },
}
