// Real agents in separate OS processes, for multi-process tests: spawn through the same bin the
// user runs, wait for the contract's ready line, poll the HTTP API with deadlines, and always
// clean up (kill what was started, remove temp dirs).
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { AGENT_NODE_FLAGS } from '../../src/cli/agent-node-flags.js'
import { reapOrphans } from '../../src/execution/orphans.js'
import { groupMembers } from '../../src/execution/proc.js'

export const BIN = resolve(import.meta.dirname, '../../bin/murmur.js')
const READY = /^murmur: ready name=(\S+) peer=(\S+) api=(\S+) p2p=(\S+)$/

export interface AgentProc {
  name: string
  peer: string
  api: string
  p2p: string
  dataDir: string
  child: ChildProcess
  stderr: string[]
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

export class AgentFleet {
  readonly root = mkdtempSync(join(tmpdir(), 'murmur-test-'))
  readonly agents = new Map<string, AgentProc>()
  /** Every data dir an agent ran on, restarts included: their job processes are reaped at cleanup. */
  private readonly dataDirs = new Set<string>()

  /**
   * Start one agent; resolves once it printed its ready line. `onStderrLine` sees every stderr
   * line from the first, for callers that need more than the last 400 kept in `stderr`.
   */
  async start(name: string, extra: string[] = [], opts: { dataDir?: string; timeoutMs?: number; onStderrLine?: (line: string) => void } = {}): Promise<AgentProc> {
    const dataDir = opts.dataDir ?? join(this.root, name)
    this.dataDirs.add(dataDir)
    const args = [BIN, 'agent', '--name', name, '--data-dir', dataDir, '--p2p-port', '0', '--api-port', '0', '--no-mdns', '--profile', 'test', '--log-level', 'info', ...extra]
    const child = spawn(process.execPath, [...AGENT_NODE_FLAGS, ...(process.env.MURMUR_TEST_NODE_ARGS ?? '').split(' ').filter(Boolean), ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    const stderr: string[] = []
    createInterface({ input: child.stderr! }).on('line', (l) => {
      stderr.push(l)
      if (stderr.length > 400) stderr.shift()
      opts.onStderrLine?.(l)
    })
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.once('exit', (code, signal) => res({ code, signal })))
    const ready = await new Promise<RegExpMatchArray>((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`${name} not ready in time; stderr:\n${stderr.slice(-20).join('\n')}`)), opts.timeoutMs ?? 45_000)
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const m = READY.exec(line)
        if (m !== null) { clearTimeout(timer); res(m) }
      })
      void exited.then(({ code, signal }) => { clearTimeout(timer); rej(new Error(`${name} exited (${code ?? signal}) before ready:\n${stderr.slice(-20).join('\n')}`)) })
    })
    const agent: AgentProc = { name, peer: ready[2]!, api: ready[3]!, p2p: ready[4]!, dataDir, child, stderr, exited }
    this.agents.set(name, agent)
    return agent
  }

  get(name: string): AgentProc {
    const a = this.agents.get(name)
    if (a === undefined) throw new Error(`no agent ${name}`)
    return a
  }

  signal(name: string, sig: NodeJS.Signals): void {
    this.get(name).child.kill(sig)
  }

  /** Stop everything started: SIGCONT frozen ones, SIGKILL all, wait for exits, remove temp dirs. */
  async cleanup(): Promise<void> {
    await Promise.all([...this.agents.values()].map(async (a) => {
      if (a.child.exitCode === null && a.child.signalCode === null) {
        a.child.kill('SIGCONT')
        // Profiling runs (MURMUR_TEST_NODE_ARGS=--cpu-prof) need a clean exit to write their profile.
        if (process.env.MURMUR_TEST_NODE_ARGS !== undefined) {
          a.child.kill('SIGTERM')
          await Promise.race([a.exited, new Promise((r) => setTimeout(r, 5_000))])
        }
        if (a.child.exitCode === null && a.child.signalCode === null) a.child.kill('SIGKILL')
      }
      await a.exited
    }))
    // A SIGKILLed agent's job processes outlive it on purpose (the next agent on its data dir
    // reaps them); no agent comes next here, so do what it would, and wait (bounded) until gone.
    const groups = [...this.dataDirs].flatMap((dir) => reapOrphans(join(dir, 'allocs'), new Set()))
    const until = Date.now() + 5_000
    while (groups.some((g) => groupMembers(g.pgid).length > 0) && Date.now() < until) await new Promise((r) => setTimeout(r, 20))
    rmSync(this.root, { recursive: true, force: true })
  }
}

export async function getJson<T>(url: string, init?: RequestInit): Promise<T> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(5_000) })
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${await res.text()}`)
  return await res.json() as T
}

/** Poll `check` until it returns a value other than undefined, or fail after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await check()
      if (v !== undefined) return v
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

export interface NodeRow { id: string; name: string; state: string; incarnation?: number; lastSeenMs: number }

export async function nodesSeenBy(agent: AgentProc): Promise<NodeRow[]> {
  return (await getJson<{ nodes: NodeRow[] }>(`${agent.api}/v1/nodes`)).nodes
}

export async function stateSeenBy(agent: AgentProc, target: string): Promise<string | undefined> {
  return (await nodesSeenBy(agent)).find((n) => n.name === target)?.state
}
