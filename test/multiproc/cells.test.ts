// Six real agents in separate processes started with `--cells 2`, all joined through one seed:
// each sees exactly the members of its own cell; jobs submitted through one agent live (are
// stored and run) in the cell hash(job id) picks, are listed and answered by agents of both
// cells, and an agent of the other cell cancels them; every agent lists its own cell's jobs.
// The agents' identities are made here, three per cell, so that both cells are always populated
// (peer ids are random: six of them would land in one cell one run in 32); the seed is in cell 0,
// so the nodes of cell 1 join through a node of another cell. Job ids come from Idempotency-Keys
// chosen the same way: three jobs per cell. Then cell 0 is filled and jobs submitted without a
// key spill into cell 1 (src/core/cell-router.ts).
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { afterAll, describe, expect, it } from 'vitest'
import { cellOf } from '../../src/core/cells.js'
import { isLive, readStatSync } from '../../src/execution/proc.js'
import { jobIdFor } from '../../src/node/agent.js'
import { IDENTITY_KEY } from '../../src/node/identity.js'
import { openStore } from '../../src/node/store.js'
import { AgentFleet, getJson, nodesSeenBy, waitFor, type AgentProc } from '../support/agents.js'
import { jobOn, post, running, waitJob, type Job } from '../support/jobs.js'

const CELLS = 2
const PER_CELL = 3
const JOBS_PER_CELL = 3

const fleet = new AgentFleet()
afterAll(() => fleet.cleanup())

/** Ed25519 keys until there are `perCell` in every cell. */
async function identitiesByCell(perCell: number): Promise<PrivateKey[][]> {
  const byCell: PrivateKey[][] = Array.from({ length: CELLS }, () => [])
  while (byCell.some((keys) => keys.length < perCell)) {
    const key = await generateKeyPair('Ed25519')
    const keys = byCell[cellOf(peerIdFromPrivateKey(key).toString(), CELLS)] as PrivateKey[]
    if (keys.length < perCell) keys.push(key)
  }
  return byCell
}

/** Puts the identity where the agent loads it from (see src/node/identity.ts). */
async function plantIdentity(dataDir: string, key: PrivateKey): Promise<void> {
  const store = await openStore(dataDir)
  try {
    await store.put(IDENTITY_KEY, privateKeyToProtobuf(key))
  } finally {
    await store.close()
  }
}

/** Idempotency keys whose job ids fall `perCell` in every cell. */
function keysByCell(perCell: number): string[][] {
  const byCell: string[][] = Array.from({ length: CELLS }, () => [])
  const run = `${process.pid}-${Date.now()}`
  for (let i = 0; byCell.some((keys) => keys.length < perCell); i++) {
    const key = `cells-test-${run}-${i}`
    const keys = byCell[cellOf(jobIdFor(key), CELLS)] as string[]
    if (keys.length < perCell) keys.push(key)
  }
  return byCell
}

/** Live processes of this user whose environment names the job (every run gets MURMUR_JOB_ID). */
function jobProcesses(jobId: string): number[] {
  const pids: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      if (!readFileSync(`/proc/${name}/environ`, 'latin1').split('\0').includes(`MURMUR_JOB_ID=${jobId}`)) continue
    } catch {
      continue // gone, or not ours
    }
    const stat = readStatSync(Number(name))
    if (stat !== null && isLive(stat)) pids.push(stat.pid)
  }
  return pids
}

describe('an agent cluster split into two cells', () => {
  it('keeps membership per cell; a job lives in its own cell and is read and cancelled from the other', async () => {
    const ids = await identitiesByCell(PER_CELL)
    // c1 (the seed) is in cell 0; its cell-1 joiners must find each other through it.
    const plan: Array<[string, PrivateKey]> = [
      ['c1', ids[0]![0]!], ['c2', ids[1]![0]!], ['c3', ids[1]![1]!], ['c4', ids[0]![1]!], ['c5', ids[1]![2]!], ['c6', ids[0]![2]!],
    ]
    for (const [name, key] of plan) await plantIdentity(join(fleet.root, name), key)
    const flags = ['--cells', String(CELLS), '--cpu', '2', '--mem', '1024']
    const seed = await fleet.start('c1', flags)
    const agents = [seed, ...await Promise.all(plan.slice(1).map(([name]) => fleet.start(name, [...flags, '--join', seed.p2p])))]

    // Cells from what each agent says it is, not from the plan.
    const cellOfAgent = new Map<AgentProc, number>()
    for (const a of agents) {
      const health = await getJson<{ nodeId: string }>(`${a.api}/v1/health`)
      expect(health.nodeId).toBe(a.peer)
      cellOfAgent.set(a, cellOf(health.nodeId, CELLS))
    }
    const cell = (a: AgentProc): number => cellOfAgent.get(a) as number
    const members = (c: number): AgentProc[] => agents.filter((a) => cell(a) === c)
    expect([0, 1].map((c) => members(c).length)).toEqual([PER_CELL, PER_CELL])
    expect(cell(seed)).toBe(0)

    // Each agent's view: exactly the members of its own cell, all alive, none of the other cell.
    const converged = Date.now()
    await waitFor('every agent to see exactly its own cell, alive', async () => {
      const views = await Promise.all(agents.map(nodesSeenBy))
      return views.every((rows, i) => {
        const want = members(cell(agents[i]!)).map((a) => a.peer).sort()
        return rows.every((r) => r.state === 'alive') && JSON.stringify(rows.map((r) => r.id).sort()) === JSON.stringify(want)
      }) ? true : undefined
    }, 30_000, 100)
    console.log('cells converged in ms', Date.now() - converged)

    // Six services through one agent (the seed, cell 0): three belong to each cell.
    const keys = keysByCell(JOBS_PER_CELL)
    const jobs: Array<{ id: string; cell: number }> = []
    for (const key of keys.flat()) {
      const res = await post(seed, { name: 'sleeper', type: 'service', command: ['sleep', '30'], resources: { cpu: 0.1, memoryMb: 16 } }, { 'Idempotency-Key': key })
      expect(res.status, JSON.stringify(res.body)).toBe(201)
      expect(res.body.id).toBe(jobIdFor(key))
      jobs.push({ id: res.body.id as string, cell: cellOf(res.body.id as string, CELLS) })
    }
    expect([0, 1].map((c) => jobs.filter((j) => j.cell === c).length)).toEqual([JOBS_PER_CELL, JOBS_PER_CELL])

    // Who can read the other cell: the seed, and every node of cell 1 (each joined through the
    // seed, a node of cell 0, and traded directories with it). The other members of cell 0 joined
    // through a node of their own cell and may hold no contact in cell 1 for minutes: the core
    // does not pass directory contacts between members of a cell (see the report on this test).
    // They must still list and answer for every job of their own cell.
    const crossReaders = [seed, ...members(1)]
    const listsAll = async (a: AgentProc, want: string[]): Promise<void> => {
      await waitFor(`${a.name} (cell ${cell(a)}) to list ${want.join(', ')}`, async () => {
        const listed = new Set((await getJson<{ jobs: Job[] }>(`${a.api}/v1/jobs`)).jobs.map((j) => j.id))
        return want.every((id) => listed.has(id)) ? true : undefined
      }, 15_000, 100)
      for (const id of want) expect((await jobOn(a, id))?.id, `${a.name} GET ${id}`).toBe(id)
    }
    for (const a of crossReaders) await listsAll(a, jobs.map((j) => j.id))
    for (const a of agents) await listsAll(a, jobs.filter((j) => j.cell === cell(a)).map((j) => j.id))

    // Each job runs once, on a node of its own cell, and agents of both cells say so alike.
    const placed: string[] = []
    for (const j of jobs) {
      const own = members(j.cell)
      // A reader of the other cell that surely has a contact in this one (see above).
      const other = j.cell === 0 ? members(1)[0]! : seed
      const seen = await waitJob(fleet, own[0]!, j.id, 'running on one node', (x) => x.state === 'running' && running(x).length === 1, 20_000)
      const runner = running(seen)[0]!
      expect(cellOf(runner.nodeId, CELLS), `${j.id} (cell ${j.cell}) runs on ${runner.nodeName}`).toBe(j.cell)
      expect(own.map((a) => a.peer)).toContain(runner.nodeId)
      placed.push(`${j.id}(cell ${j.cell})->${runner.nodeName}`)
      const fromOther = await waitJob(fleet, other, j.id, 'running (seen from the other cell)', (x) => running(x).length === 1, 10_000)
      expect(running(fromOther)[0]?.nodeId).toBe(runner.nodeId)
      // Stored on the three members of its cell (as its cell sees them); an agent of the other
      // cell does not know them and says nothing.
      expect([...seen.storedOn ?? []].sort()).toEqual(own.map((a) => a.name).sort())
      expect(fromOther.storedOn).toEqual([])
      await waitFor(`one process of ${j.id}`, async () => (jobProcesses(j.id).length === 1 ? true : undefined), 10_000, 100)
    }
    console.log('cells', agents.map((a) => `${a.name}:${cell(a)}`).join(' '), 'placed', placed.join(' '))

    // A cancel through an agent of the other cell reaches the job's cell: cancelled everywhere, process gone.
    for (const j of jobs) {
      // Cell-0 jobs through each node of cell 1 in turn; cell-1 jobs through the seed (see above).
      const via = j.cell === 0 ? members(1)[jobs.indexOf(j) % PER_CELL]! : seed
      const del = await fetch(`${via.api}/v1/jobs/${j.id}`, { method: 'DELETE', signal: AbortSignal.timeout(15_000) })
      expect(del.status, `DELETE ${j.id} via ${via.name}`).toBe(202)
    }
    for (const j of jobs) {
      for (const a of [members(j.cell)[0]!, j.cell === 0 ? members(1)[0]! : seed]) {
        await waitJob(fleet, a, j.id, 'cancelled', (x) => x.state === 'cancelled' && x.allocations.every((al) => al.state === 'cancelled'), 15_000)
      }
      await waitFor(`no process of ${j.id}`, async () => (jobProcesses(j.id).length === 0 ? true : undefined), 10_000, 100)
    }

    // Spill: with every node of cell 0 full (keyed jobs, which never move, of all its cpu), jobs
    // submitted without a key through the seed (cell 0) all run in cell 1, those whose first id
    // fell in cell 0 under another id (`<id>-sN`), and every agent answers for them by that id.
    const fullKeys: string[] = []
    for (let i = 0; fullKeys.length < PER_CELL; i++) {
      const key = `cells-fill-${process.pid}-${Date.now()}-${i}`
      if (cellOf(jobIdFor(key), CELLS) === 0) fullKeys.push(key)
    }
    const full: string[] = []
    for (const key of fullKeys) {
      const res = await post(seed, { name: 'filler', type: 'service', command: ['sleep', '60'], resources: { cpu: 2, memoryMb: 16 } }, { 'Idempotency-Key': key })
      expect(res.status, JSON.stringify(res.body)).toBe(201)
      full.push(res.body.id as string)
    }
    for (const id of full) await waitJob(fleet, seed, id, 'running (filling cell 0)', (x) => x.state === 'running' && running(x).length === 1, 20_000)
    // Free capacity is announced (throttled): the seed's cell must have heard it is full.
    await waitFor('cell 0 to be seen full by the seed', async () => (
      (await getJson<{ nodes: Array<{ resources: { free: { cpu: number } } }> }>(`${seed.api}/v1/nodes`)).nodes.every((n) => n.resources.free.cpu < 0.1) ? true : undefined
    ), 15_000, 100)
    const movers: string[] = []
    for (let i = 0; i < 4; i++) {
      const res = await post(seed, { name: 'mover', type: 'service', command: ['sleep', '60'], resources: { cpu: 0.1, memoryMb: 16 } })
      expect(res.status, JSON.stringify(res.body)).toBe(201)
      movers.push(res.body.id as string)
    }
    for (const id of movers) {
      expect(cellOf(id, CELLS), `${id} is stored in cell 1`).toBe(1)
      const seen = await waitJob(fleet, seed, id, 'running in cell 1', (x) => x.state === 'running' && running(x).length === 1, 20_000)
      expect(cellOf(running(seen)[0]!.nodeId, CELLS)).toBe(1)
      expect((await jobOn(members(1)[0]!, id))?.id).toBe(id)
    }
    console.log('spilled', movers.join(' '))
  }, 150_000)
})
