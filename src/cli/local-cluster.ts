// The N agent processes of `murmur up`: their specs (names, ports, data dirs), starting node 1
// and then the rest joined to it, and stopping them all.
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ReadyInfo } from './agent-handshake.js'
import { CliError, type Env } from './flags.js'
import { NodeProcess, type NodeProcessSpec } from './node-process.js'

/** bin/murmur.js, found from this file so `up` works from any working directory. */
export const BIN_PATH = fileURLToPath(new URL('../../bin/murmur.js', import.meta.url))

export interface ClusterOptions {
  count: number
  /** Node k gets base+k-1; 0 gives every node a free port. */
  baseP2pPort: number
  baseApiPort: number
  /** Absolute; node k keeps its identity and jobs in <dataRoot>/n<k>. */
  dataRoot: string
  profile: string
  logLevel: string
  readyTimeoutMs: number
  /** Every node's --cells (passed only when not 1, the agents' default). */
  cells: number
}

/** One spec per node, without node 1's address (known only once it is up). */
export function clusterSpecs(opts: ClusterOptions, binPath: string, env: Env): NodeProcessSpec[] {
  const specs: NodeProcessSpec[] = []
  for (let k = 1; k <= opts.count; k++) {
    const name = `n${k}`
    const dataDir = path.join(opts.dataRoot, name)
    const port = (base: number): string => String(base === 0 ? 0 : base + k - 1)
    specs.push({
      name, dataDir, binPath, env, readyTimeoutMs: opts.readyTimeoutMs,
      args: [
        '--name', name, '--data-dir', dataDir,
        '--p2p-host', '127.0.0.1', '--p2p-port', port(opts.baseP2pPort),
        '--api-host', '127.0.0.1', '--api-port', port(opts.baseApiPort),
        '--no-mdns', '--profile', opts.profile, '--log-level', opts.logLevel,
        ...(opts.cells === 1 ? [] : ['--cells', String(opts.cells)]),
      ],
    })
  }
  return specs
}

/** A node that did not come up; the command prints `message` and the log tail. */
export class NodeStartError extends CliError {
  constructor(message: string, readonly logPath: string, readonly logTail: string) {
    super(message, 1)
  }
}

export class LocalCluster {
  /** Every node spawned so far, in spec order; grows during start(). */
  readonly nodes: NodeProcess[] = []

  /**
   * Starts node 1, waits for its ready line, then starts the others in parallel joined to it.
   * On any failure stops everything started and throws NodeStartError.
   */
  async start(specs: NodeProcessSpec[], graceMs: number): Promise<ReadyInfo[]> {
    const [first, ...rest] = specs
    if (first === undefined) return []
    const [seedInfo] = await this.allReady([this.spawn(first)], graceMs)
    if (seedInfo === undefined) return []
    const others = rest.map((spec) => this.spawn({ ...spec, args: [...spec.args, '--join', seedInfo.p2p] }))
    return [seedInfo, ...await this.allReady(others, graceMs)]
  }

  /** Stops every node (SIGTERM, SIGKILL after graceMs), all at the same time. */
  async stop(graceMs: number): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.stop(graceMs)))
  }

  /** SIGKILL for all, now. */
  kill(): void {
    for (const node of this.nodes) node.kill()
  }

  private spawn(spec: NodeProcessSpec): NodeProcess {
    const node = new NodeProcess(spec)
    this.nodes.push(node)
    return node
  }

  /**
   * Every node's ready info, or NodeStartError for the first node that failed. Stopping the
   * others makes them fail too; only the first failure is the cause, so only it is reported.
   */
  private async allReady(nodes: NodeProcess[], graceMs: number): Promise<ReadyInfo[]> {
    try {
      return await Promise.all(nodes.map((node) => node.ready.catch((err: unknown) => { throw new FirstFailure(node, err) })))
    } catch (err) {
      // Stop everything first, so the tail we read is complete.
      await this.stop(graceMs)
      if (!(err instanceof FirstFailure)) throw err
      const reason = err.cause instanceof Error ? err.cause.message : String(err.cause)
      throw new NodeStartError(reason, err.node.logPath, err.node.logTail())
    }
  }
}

class FirstFailure extends Error {
  constructor(readonly node: NodeProcess, override readonly cause: unknown) {
    super('node failed to start')
  }
}
