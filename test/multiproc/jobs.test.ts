// Jobs end to end on real agents in separate processes, through the contract's HTTP API only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AgentFleet, getJson, nodesSeenBy, waitFor, type AgentProc } from '../support/agents.js'
import { jobOn, post, waitState as waitStateIn, type Job } from '../support/jobs.js'
import { topFor } from '../../src/core/replica-ranking.js'
import { jobIdFor } from '../../src/node/agent.js'

const fleet = new AgentFleet()
let a: AgentProc
let b: AgentProc
let c: AgentProc
let all: AgentProc[]

const waitState = (agent: AgentProc, id: string, state: string, timeoutMs = 20_000): Promise<Job> => waitStateIn(fleet, agent, id, state, timeoutMs)

beforeAll(async () => {
  a = await fleet.start('ja', ['--label', 'role=a', '--cpu', '2', '--mem', '1024'])
  let d: AgentProc
  ;[b, c, d] = await Promise.all([
    fleet.start('jb', ['--join', a.p2p, '--label', 'role=b', '--cpu', '2', '--mem', '1024']),
    fleet.start('jc', ['--join', a.p2p, '--label', 'role=c', '--cpu', '2', '--mem', '1024']),
    fleet.start('jd', ['--join', a.p2p, '--label', 'role=d', '--cpu', '2', '--mem', '1024']),
  ])
  all = [a, b, c, d]
  await waitFor('four agents to see four alive', async () => {
    const views = await Promise.all(all.map(nodesSeenBy))
    return views.every((v) => v.filter((n) => n.state === 'alive').length === 4) ? true : undefined
  }, 30_000)
})
afterAll(() => fleet.cleanup())

const byName = (name: string): AgentProc => all.find((x) => x.name === name) as AgentProc

describe('jobs on real agents', () => {
  it('submitted to A, runs on B, status and logs from C', async () => {
    const res = await post(a, { name: 'hello', command: ['sh', '-c', 'echo hello from $MURMUR_JOB_ID; echo oops >&2'], constraints: [{ label: 'role', op: '=', value: 'b' }] })
    expect(res.status).toBe(201)
    const id = res.body.id as string
    const job = await waitState(c, id, 'succeeded')
    expect(job.allocations).toHaveLength(1)
    expect(job.allocations[0]).toMatchObject({ nodeName: 'jb', state: 'succeeded', exitCode: 0 })
    const out = await fetch(`${c.api}/v1/jobs/${id}/logs?stream=stdout`)
    expect(out.status).toBe(200)
    expect(await out.text()).toBe(`hello from ${id}\n`)
    const err = await fetch(`${c.api}/v1/jobs/${id}/logs?stream=stderr`)
    expect(await err.text()).toBe('oops\n')
  })

  it('the event stream of a node that neither stores nor runs a job shows it, from placement to succeeded', async () => {
    // A key whose job id the four agents' rendezvous ranking does not store on jd (it runs on jb).
    const peers = all.map((x) => x.peer)
    let key = ''
    for (let i = 0; key === ''; i++) {
      const k = `watched-${Date.now()}-${i}`
      if (!topFor(jobIdFor(k), peers, 3).includes(byName('jd').peer)) key = k
    }
    const events = await openEvents(byName('jd'))
    try {
      // Watching makes jd join the event topic; the other agents learn it from its subscription,
      // a gossip message of its own. A first job shown on the stream proves they have.
      const first = await post(a, { name: 'warm-up', command: ['true'] })
      expect(first.status).toBe(201)
      await waitFor('jd\'s stream to show a first job succeeded', async () => (events.states(first.body.id as string).includes('succeeded') ? true : undefined), 10_000)
      const res = await post(a, { name: 'watched', command: ['true'], constraints: [{ label: 'role', op: '=', value: 'b' }] }, { 'Idempotency-Key': key })
      expect(res.status).toBe(201)
      const id = res.body.id as string
      const job = await waitState(c, id, 'succeeded')
      expect(job.storedOn).not.toContain('jd')
      await waitFor(`jd's stream to show job ${id} succeeded`, async () => (events.states(id).includes('succeeded') ? true : undefined), 10_000)
      // Its placement (told by its arbiter) and its end. The runner tells the start in digests of
      // its own, so the start may come before the placement: authors' digests are not ordered.
      expect(events.allocStates(id)).toContain('claimed')
      expect(events.states(id).at(-1)).toBe('succeeded')
    } finally {
      events.close()
    }
  })

  it('rejects bad specs with a 400 naming the field, and changes nothing', async () => {
    const before = (await getJson<{ jobs: Job[] }>(`${a.api}/v1/jobs`)).jobs.length
    for (const [body, field] of [
      [{}, 'command'],
      [{ command: [] }, 'command'],
      [{ command: ['true'], resources: { cpu: -1 } }, 'cpu'],
      [{ command: ['true'], type: 'cron' }, 'type'],
      [{ command: ['true'], constraints: [{ label: 'x', op: '~', value: 'y' }] }, 'op'],
    ] as const) {
      const res = await post(a, body)
      expect(res.status, JSON.stringify(body)).toBe(400)
      expect(res.body.error?.code).toBe('bad_request')
      expect(res.body.error?.message).toContain(field)
    }
    expect((await getJson<{ jobs: Job[] }>(`${b.api}/v1/jobs`)).jobs.length).toBe(before)
  })

  it('gives one job for the same Idempotency-Key on two nodes', async () => {
    const key = `key-${Date.now()}`
    const [r1, r2] = await Promise.all([
      post(a, { command: ['true'] }, { 'Idempotency-Key': key }),
      post(c, { command: ['true'] }, { 'Idempotency-Key': key }),
    ])
    expect(r1.status).toBe(201)
    expect(r2.status).toBe(201)
    expect(r1.body.id).toBe(r2.body.id)
    await waitState(b, r1.body.id as string, 'succeeded')
    const jobs = (await getJson<{ jobs: Job[] }>(`${b.api}/v1/jobs`)).jobs.filter((j) => j.id === r1.body.id)
    expect(jobs).toHaveLength(1)
    expect(jobs[0]?.allocations).toHaveLength(1)
  })

  it('keeps a job too big for any node pending with a reason, and runs it when a bigger node joins', async () => {
    const res = await post(b, { command: ['true'], resources: { cpu: 1, memoryMb: 4096 } })
    expect(res.status).toBe(201)
    const id = res.body.id as string
    const pending = await waitFor('a pending reason', async () => {
      const j = await jobOn(c, id)
      return j?.state === 'pending' && j.pendingReason !== undefined ? j : undefined
    }, 10_000)
    expect(pending.pendingReason).toMatch(/4 nodes lack memory: need 4096 MB, most free 1024 MB/)
    await fleet.start('jbig', ['--join', a.p2p, '--cpu', '4', '--mem', '8192'])
    const done = await waitState(a, id, 'succeeded', 30_000)
    expect(done.allocations.map((x) => x.nodeName)).toEqual(['jbig'])
  })

  it('runs 200 short jobs submitted across 5 agents, each exactly once', async () => {
    const five = [...fleet.agents.values()].filter((x) => x.child.exitCode === null)
    expect(five).toHaveLength(5)
    const started = async (): Promise<number> => {
      let sum = 0
      for (const agent of five) sum += Number(/^murmur_instances_started_total (\d+)/m.exec(await (await fetch(`${agent.api}/metrics`)).text())?.[1] ?? NaN)
      return sum
    }
    const startedBefore = await started()
    const ids: string[] = []
    let next = 0
    await Promise.all(Array.from({ length: 4 }, async () => {
      while (next < 200) {
        const i = next++
        const res = await post(five[i % five.length] as AgentProc, { command: ['true'], resources: { cpu: 0.1, memoryMb: 16 } })
        expect(res.status).toBe(201)
        ids.push(res.body.id as string)
      }
    }))
    const jobs = await waitFor('200 jobs to succeed', async () => {
      const list = (await getJson<{ jobs: Job[] }>(`${c.api}/v1/jobs`)).jobs.filter((j) => ids.includes(j.id))
      return list.length === 200 && list.every((j) => j.state === 'succeeded') ? list : undefined
    }, 160_000, 250)
    // No instance ran twice: one allocation started, and it succeeded. A runner may refuse a
    // start its arbiter's capacity figure for it allowed (the figure was a moment old; that
    // refusal is what keeps the node from overcommitting): such an attempt never started a
    // process, and the next one runs elsewhere. The allocations say why when this fails.
    const notOnce = jobs.filter((j) => {
      const started = j.allocations.filter((x) => x.startedAt !== null)
      const refused = j.allocations.filter((x) => x.startedAt === null && x.state === 'lost' && /refused the start/.test(x.reason ?? ''))
      return !(started.length === 1 && started[0]?.state === 'succeeded' && started.length + refused.length === j.allocations.length)
    })
    expect(notOnce.map((j) => ({ id: j.id, allocations: j.allocations }))).toEqual([])
    // The runners agree: 200 processes started across the cluster, not one more. (Where they ran
    // is placement's business: batch jobs pack onto the fullest nodes with room.)
    expect(await started() - startedBefore).toBe(200)
    // Every node exports what it started and what duplicates it stopped (none here).
    const metrics = await (await fetch(`${a.api}/metrics`)).text()
    expect(metrics).toMatch(/^murmur_instances_started_total \d+/m)
    expect(metrics).toMatch(/^murmur_duplicates_stopped_total 0$/m)
  }, 180_000) // alone ~40 s; npm test runs another multi-process file beside it on the same 2 cores

  it('cancels a running job: its process is killed and it is cancelled everywhere', async () => {
    const res = await post(c, { command: ['sleep', '60'] })
    const id = res.body.id as string
    await waitState(a, id, 'running')
    const del = await fetch(`${b.api}/v1/jobs/${id}`, { method: 'DELETE' })
    expect(del.status).toBe(202)
    for (const agent of all) {
      await waitFor(`cancelled allocation on ${agent.name}`, async () => {
        const j = await jobOn(agent, id)
        return j?.state === 'cancelled' && j.allocations.every((x) => x.state === 'cancelled') ? true : undefined
      }, 15_000)
    }
  })
})

/** A node's /v1/events stream, read as it arrives: the job events' states per job id. */
async function openEvents(agent: AgentProc): Promise<{ states(id: string): string[]; allocStates(id: string): string[]; close(): void }> {
  const abort = new AbortController()
  const res = await fetch(`${agent.api}/v1/events`, { signal: abort.signal })
  if (!res.ok || res.body === null) throw new Error(`${agent.name}: /v1/events answered ${res.status}`)
  const seen = new Map<string, Array<{ state: string; allocState?: string }>>()
  void (async () => {
    const decoder = new TextDecoder()
    let buf = ''
    try {
      for await (const chunk of res.body as ReadableStream<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true })
        let end: number
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, end)
          buf = buf.slice(end + 2)
          if (!frame.includes('event: job')) continue
          const data = frame.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('')
          const e = JSON.parse(data) as { job: string; state: string; allocState?: string }
          seen.set(e.job, [...seen.get(e.job) ?? [], e])
        }
      }
    } catch {
      // closed
    }
  })()
  return {
    states: (id) => (seen.get(id) ?? []).map((e) => e.state),
    allocStates: (id) => (seen.get(id) ?? []).flatMap((e) => (e.allocState === undefined ? [] : [e.allocState])),
    close: () => abort.abort(),
  }
}
