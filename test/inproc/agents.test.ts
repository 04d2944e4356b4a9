// Five full agents (core, libp2p host, store, API) in one process: they join through one seed,
// converge to one view, and see a graceful stop as `left`.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { AgentConfig, RunningAgent } from '../../src/node/agent-config.js'
import { startAgent } from '../../src/node/agent.js'
import { waitFor } from '../support/agents.js'

const root = mkdtempSync(join(tmpdir(), 'murmur-inproc-'))
const agents: RunningAgent[] = []

function config(name: string, join: string[]): AgentConfig {
  return {
    name, dataDir: `${root}/${name}`, p2pPort: 0, p2pHost: '127.0.0.1', apiPort: 0, apiHost: '127.0.0.1', join, mdns: false,
    cpu: 2, memoryMb: 1024, labels: {}, profile: 'test', colocated: true, logLevel: 'warn', drainTimeoutMs: 0, cells: 1, jobRetentionMs: 3_600_000,
  }
}

async function view(a: RunningAgent): Promise<Array<{ name: string; state: string }>> {
  const res = await fetch(`${a.apiUrl}/v1/nodes`, { signal: AbortSignal.timeout(5_000) })
  return ((await res.json()) as { nodes: Array<{ name: string; state: string }> }).nodes
}

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()))
  rmSync(root, { recursive: true, force: true })
})

describe('five agents in one process', () => {
  it('converge through one seed, and see a graceful stop as left', async () => {
    const seed = await startAgent(config('p1', []))
    agents.push(seed)
    agents.push(...await Promise.all(['p2', 'p3', 'p4', 'p5'].map((n) => startAgent(config(n, [seed.p2pAddr])))))
    await waitFor('five agents to see five alive', async () => {
      const views = await Promise.all(agents.map(view))
      return views.every((v) => v.filter((n) => n.state === 'alive').length === 5) ? true : undefined
    }, 30_000)
    const leaving = agents.pop() as RunningAgent
    await leaving.stop()
    await waitFor('the others to see p5 left', async () => {
      const views = await Promise.all(agents.map(view))
      return views.every((v) => v.find((n) => n.name === 'p5')?.state === 'left') ? true : undefined
    }, 5_000)
    expect((await view(agents[0]!)).map((n) => n.state).sort()).toEqual(['alive', 'alive', 'alive', 'alive', 'left'])
  })
})
