// `murmur agent [flags]`: one node in the foreground until SIGTERM/SIGINT.
import { constants } from 'node:os'
import type { RunningAgent } from '../../node/agent-config.js'
import { AGENT_USAGE, parseAgentFlags } from '../agent-flags.js'
import type { Command } from '../command.js'
import { CliError, oneLine } from '../flags.js'
import { SUPERVISED_ENV, formatReadyLine } from '../agent-handshake.js'
import { saveCodeCache } from '../code-cache.js'


export const agentCommand: Command = {
  usage: AGENT_USAGE,
  async run(argv, env) {
    // Flags first: a bad flag must fail fast, before libp2p is even loaded.
    const config = parseAgentFlags(argv, env)

    let agent: RunningAgent | undefined
    let stopping: Promise<number> | undefined
    let finish!: (code: number) => void
    const finished = new Promise<number>((resolve) => { finish = resolve })

    const shutdown = (signal: NodeJS.Signals): void => {
      if (agent === undefined || stopping !== undefined) {
        // Before the agent is up there is nothing to stop cleanly; a second signal means "now".
        process.exit(128 + (constants.signals[signal] ?? 15))
      }
      stopping = stopGracefully(agent)
      void stopping.then(finish)
    }
    process.on('SIGINT', shutdown)
    process.on('SIGTERM', shutdown)
    if (env[SUPERVISED_ENV] === '1') {
      process.stdin.on('end', () => shutdown('SIGTERM'))
      process.stdin.on('error', () => shutdown('SIGTERM'))
      process.stdin.resume()
    }

    try {
      const { startAgent } = await import('../../node/agent.js')
      agent = await startAgent(config)
    } catch (err) {
      throw new CliError(`cannot start agent ${config.name}: ${oneLine(err)}`, 1)
    }
    // Before the ready line: agents started after this one (a cluster's joiners) find the cache.
    saveCodeCache()
    process.stdout.write(`${formatReadyLine({ name: agent.name, peer: agent.nodeId, api: agent.apiUrl, p2p: agent.p2pAddr })}\n`)
    return finished
  },
}

async function stopGracefully(agent: RunningAgent): Promise<number> {
  // A graceful stop that takes longer than its own bound is stuck: exit anyway rather than hang.
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`stop took over ${agent.stopLimitMs / 1000}s`)), agent.stopLimitMs)
  })
  try {
    await Promise.race([agent.stop(), timeout])
    return 0
  } catch (err) {
    process.stderr.write(`murmur: stopping ${agent.name} failed: ${oneLine(err)}\n`)
    return 1
  } finally {
    clearTimeout(timer)
  }
}
