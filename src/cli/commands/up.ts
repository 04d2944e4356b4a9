// `murmur up [-n 3]`: a local cluster of N agents, each its own OS process, until Ctrl-C.
import path from 'node:path'
import { MAX_CELLS } from '../../core/cells.js'
import type { ReadyInfo } from '../agent-handshake.js'
import type { Command } from '../command.js'
import { DEFAULT_API } from '../client.js'
import { type Env, FlagError, parseFlags, parseInteger, parsePort } from '../flags.js'
import { BIN_PATH, type ClusterOptions, LocalCluster, NodeStartError, clusterSpecs } from '../local-cluster.js'
import { describeExit, type NodeProcess } from '../node-process.js'
import { formatTable } from '../output.js'

const USAGE = `usage: murmur up [-n 3] [flags]

Starts N murmur nodes as separate processes on 127.0.0.1, joined into one cluster. Node k is
named n<k>, listens on p2p port 7000+k-1 and API port 7070+k-1, keeps its data in
./.murmur/n<k> and its log in ./.murmur/n<k>/agent.log. Ctrl-C stops them all.

flags:
  -n, --count N            how many nodes (default 3)
  --base-p2p-port N        p2p port of node 1 (default 7000; 0 = any free port for every node)
  --base-api-port N        API port of node 1 (default 7070; 0 = any free port for every node)
  --data-root DIR          where the nodes' data dirs go (default ./.murmur)
  --profile lan|test       failure-detector timing (default lan)
  --log-level LEVEL        the nodes' log level (default info)
  --ready-timeout SECONDS  give up on a node not ready after this long (default 30)
  --cells N                split the cluster into N cells (the agents' --cells; default 1)
`

const OPTIONS = {
  count: { type: 'string', short: 'n' },
  'base-p2p-port': { type: 'string' },
  'base-api-port': { type: 'string' },
  'data-root': { type: 'string' },
  profile: { type: 'string' },
  'log-level': { type: 'string' },
  'ready-timeout': { type: 'string' },
  cells: { type: 'string' },
} as const

/** A laptop runs a few dozen agents at most; more is almost surely a typo. */
const MAX_NODES = 64
/**
 * SIGTERM to SIGKILL. An agent drains before it leaves (up to its 10 s drain timeout, plus 5 s for
 * its processes to take SIGTERM); when every node stops at once each sees nowhere to move work and
 * stops its runs at once, so this is a bound, not the usual time.
 */
const STOP_GRACE_MS = 20_000

export function parseUpFlags(argv: string[], cwd: string): ClusterOptions {
  const { values } = parseFlags({ args: argv, options: OPTIONS, allowPositionals: false })
  const count = values.count === undefined ? 3 : parseInteger(values.count, '-n', 1, MAX_NODES)
  const baseP2pPort = values['base-p2p-port'] === undefined ? 7000 : parsePort(values['base-p2p-port'], '--base-p2p-port')
  const baseApiPort = values['base-api-port'] === undefined ? 7070 : parsePort(values['base-api-port'], '--base-api-port')
  for (const [flag, base] of [['--base-p2p-port', baseP2pPort], ['--base-api-port', baseApiPort]] as const) {
    if (base !== 0 && base + count - 1 > 65535) throw new FlagError(`${flag}: ${base}+${count - 1} is past port 65535`)
  }
  if (baseP2pPort !== 0 && baseApiPort !== 0 && baseP2pPort < baseApiPort + count && baseApiPort < baseP2pPort + count) {
    throw new FlagError(`the p2p ports ${baseP2pPort}-${baseP2pPort + count - 1} overlap the API ports ${baseApiPort}-${baseApiPort + count - 1}`)
  }
  const profile = values.profile ?? 'lan'
  if (profile !== 'lan' && profile !== 'test') throw new FlagError(`--profile: '${profile}' is not a profile (lan, test)`)
  const readyTimeoutS = values['ready-timeout'] === undefined ? 30 : parseInteger(values['ready-timeout'], '--ready-timeout', 1, 3600)
  const cells = values.cells === undefined ? 1 : parseInteger(values.cells, '--cells', 1, MAX_CELLS)
  return {
    count, baseP2pPort, baseApiPort, profile, cells,
    dataRoot: path.resolve(cwd, values['data-root'] ?? '.murmur'),
    logLevel: values['log-level'] ?? 'info',
    readyTimeoutMs: readyTimeoutS * 1000,
  }
}

/** The table `up` prints once every node is ready, plus where to look next. */
export function formatClusterSummary(nodes: Array<{ info: ReadyInfo; pid: number | undefined }>): string {
  const table = formatTable(['NAME', 'PEER', 'PID', 'P2P', 'API'],
    nodes.map(({ info, pid }) => [info.name, info.peer, String(pid ?? '?'), info.p2p, info.api]))
  const api = nodes[0]?.info.api ?? DEFAULT_API
  const hint = api === DEFAULT_API ? 'npx murmur nodes' : `npx murmur nodes --api ${api}`
  return `${table}\ndashboard: ${api}/\ntry: ${hint}\nCtrl-C stops all nodes.\n`
}

export const upCommand: Command = {
  usage: USAGE,
  async run(argv, env: Env) {
    const options = parseUpFlags(argv, process.cwd())
    const cluster = new LocalCluster()
    let stopping = false
    let finish!: (code: number) => void
    const finished = new Promise<number>((resolve) => { finish = resolve })

    const onSignal = (): void => {
      if (stopping) {
        // A second Ctrl-C: no more waiting.
        cluster.kill()
        process.exit(130)
      }
      stopping = true
      process.stdout.write('murmur: stopping all nodes...\n')
      void cluster.stop(STOP_GRACE_MS).then(() => finish(0))
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)

    let infos: ReadyInfo[]
    try {
      infos = await cluster.start(clusterSpecs(options, BIN_PATH, env), STOP_GRACE_MS)
    } catch (err) {
      if (stopping) return finished
      if (!(err instanceof NodeStartError)) throw err
      const tail = err.logTail.split('\n').map((l) => `  ${l}`).join('\n')
      process.stderr.write(`murmur: ${err.message}; last lines of ${err.logPath}:\n${tail}\n`)
      return 1
    }
    if (stopping) return finished

    process.stdout.write(formatClusterSummary(cluster.nodes.map((node, i) => ({ info: infos[i]!, pid: node.pid }))))
    for (const node of cluster.nodes) watch(node, cluster, () => stopping, finish)
    return finished
  },
}

/** Reports a node that dies on its own; the others keep running (killing nodes is a feature). */
function watch(node: NodeProcess, cluster: LocalCluster, stopping: () => boolean, finish: (code: number) => void): void {
  void node.exited.then((exit) => {
    if (stopping()) return
    process.stderr.write(`murmur: ${node.spec.name} (pid ${node.pid ?? '?'}) exited (${describeExit(exit)}); ` +
      `the other nodes keep running; log: ${node.logPath}\n`)
    if (cluster.nodes.every((n) => n.hasExited)) {
      process.stderr.write('murmur: all nodes have exited\n')
      finish(1)
    }
  })
}
