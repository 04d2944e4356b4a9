// The subcommand table. Modules load lazily so `murmur nodes` never loads libp2p.
import type { Command } from '../command.js'

export interface CommandEntry {
  /** One line for `murmur --help`. */
  summary: string
  load(): Promise<Command>
}

export const COMMANDS: Record<string, CommandEntry> = {
  up: { summary: 'start a local cluster of N nodes (separate processes)', load: async () => (await import('./up.js')).upCommand },
  agent: { summary: 'run one node in the foreground', load: async () => (await import('./agent.js')).agentCommand },
  run: { summary: 'submit a job; --wait follows it and exits with its exit code', load: async () => (await import('./run.js')).runCommand },
  status: { summary: 'one job in detail, or a table of all jobs', load: async () => (await import('./status.js')).statusCommand },
  logs: { summary: "a job's output, from whichever node ran it", load: async () => (await import('./logs.js')).logsCommand },
  stop: { summary: 'cancel a job everywhere', load: async () => (await import('./stop.js')).stopCommand },
  drain: { summary: 'no new work for a node; its jobs move elsewhere', load: async () => (await import('./drain.js')).drainCommand },
  nodes: { summary: 'the cluster as a node sees it', load: async () => (await import('./nodes.js')).nodesCommand },
  keygen: { summary: 'write a new private-network (pnet) swarm key', load: async () => (await import('./keygen.js')).keygenCommand },
}
