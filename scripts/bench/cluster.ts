// Real agents for the bench, each its own OS process on 127.0.0.1 with ports 0 (through
// test/support/agents.ts, the same launcher the multi-process tests use). Every cluster made here
// is registered, so that a failure or Ctrl-C anywhere still stops all of them (stopAllClusters).
import { AgentFleet, getJson, type AgentProc, type NodeRow } from '../../test/support/agents.js'
import { nowMs } from './clock.js'

/**
 * The fleet starts agents with the test profile (faster repair of lost gossip); the bench measures
 * what users run, so it asks for the default LAN profile (the last --profile wins).
 */
const AGENT_ARGS = ['--profile', 'lan']
/** Starting many agents at once on two shared cores takes long; a start slower than this fails. */
const START_TIMEOUT_MS = 180_000

const open = new Set<BenchCluster>()

/** A polled condition's answer, or null when `limitMs` passed first; each check is bounded by the fetch timeout. */
export async function pollUntil<T>(check: () => Promise<T | undefined>, limitMs: number, everyMs: number): Promise<T | null> {
  const deadline = Date.now() + limitMs
  for (;;) {
    try {
      const v = await check()
      if (v !== undefined) return v
    } catch {
      // An agent busy or starting: ask again until the deadline.
    }
    if (Date.now() > deadline) return null
    await sleep(everyMs)
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

export function isUp(a: AgentProc): boolean {
  return a.child.exitCode === null && a.child.signalCode === null
}

/** The members an agent sees alive (GET /v1/nodes), with a short timeout of our own. */
export async function aliveSeenBy(agent: AgentProc): Promise<number> {
  const res = await fetch(`${agent.api}/v1/nodes`, { signal: AbortSignal.timeout(3_000) })
  if (!res.ok) throw new Error(`${agent.name}: /v1/nodes answered ${res.status}`)
  return ((await res.json()) as { nodes: NodeRow[] }).nodes.filter((n) => n.state === 'alive').length
}

export class BenchCluster {
  readonly fleet = new AgentFleet()
  /** When every agent first saw all the others alive (epoch ms; set by whoever waited for it). */
  convergedAt: number | null = null
  private stopped = false

  constructor(private readonly extraArgs: readonly string[] = []) {
    open.add(this)
  }

  /** Agents started here and still running, in start order. */
  live(): AgentProc[] {
    return [...this.fleet.agents.values()].filter(isUp)
  }

  /**
   * Launches `n` agents at once, all joining the first (which is started first, since the others
   * need its address). Resolves when every one printed its ready line.
   */
  async launch(n: number, prefix: string): Promise<{ agents: AgentProc[]; launchedAt: number; readyAt: number }> {
    const launchedAt = nowMs()
    const first = await this.startOne(`${prefix}1`, [])
    const rest = await Promise.all(Array.from({ length: n - 1 }, (_, i) => this.startOne(`${prefix}${i + 2}`, ['--join', first.p2p])))
    return { agents: [first, ...rest], launchedAt, readyAt: nowMs() }
  }

  async startOne(name: string, extra: string[], dataDir?: string): Promise<AgentProc> {
    if (this.stopped) throw new Error('the cluster is stopped')
    return await this.fleet.start(name, [...AGENT_ARGS, ...this.extraArgs, ...extra], { timeoutMs: START_TIMEOUT_MS, ...(dataDir === undefined ? {} : { dataDir }) })
  }

  /** Epoch ms when every agent saw `n` alive, or null if not within `limitMs`. */
  async waitAllSee(agents: readonly AgentProc[], n: number, limitMs: number, everyMs = 100): Promise<number | null> {
    return pollUntil(async () => {
      const seen = await Promise.all(agents.map(aliveSeenBy))
      return seen.every((s) => s === n) ? nowMs() : undefined
    }, limitMs, everyMs)
  }

  /** How many members each agent that answers sees alive now, fewest first (for a size that did not converge). */
  async aliveCounts(agents: readonly AgentProc[]): Promise<number[]> {
    const seen = await Promise.all(agents.map((a) => aliveSeenBy(a).catch(() => null)))
    return seen.filter((s): s is number => s !== null).sort((a, b) => a - b)
  }

  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    try {
      await this.fleet.cleanup()
    } finally {
      open.delete(this)
    }
  }
}

/** Stops every cluster still open (on failure or Ctrl-C). */
export async function stopAllClusters(): Promise<void> {
  await Promise.all([...open].map((c) => c.stop().catch(() => {})))
}

export { getJson }
export type { AgentProc }
