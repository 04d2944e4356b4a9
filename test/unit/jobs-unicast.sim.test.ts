// Jobs without a broadcast, at every cluster size: changes go by rpc to the storing nodes and
// runners only; reads ask the storing nodes; runners renew a lease; capacity rides on activity
// digests and answers.
import { describe, expect, it } from 'vitest'
import type { JobStatus } from '../../src/core/job-types.js'
import { SimCluster, simSpec } from '../../src/sim/sim-cluster.js'

function cluster(n: number, seed = 1): SimCluster {
  const sim = new SimCluster({ seed, latencyMs: 1, jitterMs: 1 })
  for (let i = 1; i <= n; i++) sim.start(`node-${i}`, `n${i}`)
  sim.runUntilTrue(() => sim.ids().every((o) => sim.core(o).records().filter((r) => r.state === 'alive').length === n), 5_000)
  return sim
}

const running = (sim: SimCluster, job: string): string[] => sim.runs.filter((r) => r.jobId === job && r.endedAt === null).map((r) => r.node)

function read(sim: SimCluster, via: string, id?: string): { status: number; body: unknown } {
  const r = sim.api(via, id === undefined ? { op: 'list' } : { op: 'get', id })
  sim.runUntilTrue(() => sim.replies.has(r), 5_000)
  return sim.replies.get(r) as { status: number; body: unknown }
}

describe('jobs without a broadcast', () => {
  it('runs jobs while nodes that neither store nor run a job never hear of it', () => {
    const sim = cluster(8, 2)
    for (let i = 0; i < 20; i++) sim.submit(`node-${1 + (i % 8)}`, `j${i}`, simSpec({ env: { SIM_DURATION_MS: '200' } }))
    const ids = Array.from({ length: 20 }, (_, i) => `j${i}`)
    sim.runUntilTrue(() => ids.every((id) => sim.storedOn(id).every((n) => sim.core(n).jobStatus(id)?.state === 'succeeded')), 20_000)
    for (const id of ids) {
      const ran = new Set(sim.runs.filter((r) => r.jobId === id).map((r) => r.node))
      const storing = new Set(sim.core('node-1').replicaSet(id))
      const strangers = sim.ids().filter((n) => !ran.has(n) && !storing.has(n))
      // The node that took the submit held it to store it; anyone else outside the two sets never did.
      expect(strangers.filter((n) => sim.core(n).jobRecord(id) !== undefined && n !== `node-${1 + (Number(id.slice(1)) % 8)}`), id).toEqual([])
    }
    expect(sim.violations()).toEqual({ duplicates: [], overcommit: [] })
  })

  it('answers a read of any job on any node, and lists every job from any node', () => {
    const sim = cluster(8, 3)
    for (let i = 0; i < 12; i++) sim.submit('node-1', `r${i}`, simSpec({ type: 'service', env: { SIM_DURATION_MS: '3600000' } }))
    sim.runUntilTrue(() => Array.from({ length: 12 }, (_, i) => `r${i}`).every((id) => running(sim, id).length === 1), 10_000)
    for (const via of sim.ids()) {
      for (let i = 0; i < 12; i++) {
        const got = read(sim, via, `r${i}`)
        expect(got.status, `${via} r${i}`).toBe(200)
        expect((got.body as JobStatus).state).toBe('running')
      }
      const list = read(sim, via)
      expect((list.body as { jobs: JobStatus[] }).jobs.map((j) => j.id).sort()).toEqual(Array.from({ length: 12 }, (_, i) => `r${i}`).sort())
    }
    expect(read(sim, 'node-5', 'nope').status).toBe(404)
  })

  it('a cancel through a node that does not hold the job stops its run', () => {
    const sim = cluster(8, 4)
    sim.submit('node-1', 'c', simSpec({ type: 'service', env: { SIM_DURATION_MS: '3600000' } }))
    sim.runUntilTrue(() => running(sim, 'c').length === 1, 5_000)
    const stranger = sim.ids().find((n) => sim.core(n).jobRecord('c') === undefined) as string
    expect(stranger).toBeDefined()
    const r = sim.cancel(stranger, 'c')
    sim.runUntilTrue(() => sim.replies.has(r), 5_000)
    expect(sim.replies.get(r)?.status).toBe(202)
    sim.runUntilTrue(() => running(sim, 'c').length === 0, 5_000)
    expect((read(sim, stranger, 'c').body as JobStatus).state).toBe('cancelled')
  })

  it('a runner frozen while its run moved learns it was superseded (its lease) and stops its copy', () => {
    // The lease is for runners that do not store their job: the first job name whose run lands
    // on a node outside its storing nodes (one job alone, so nothing else brings the news). The
    // job keeps the replacement at a heal (its policy), so the thawed copy is the one to stop.
    let sim = cluster(6, 11)
    let job = ''
    for (const name of 'abcdefghij') {
      sim = cluster(6, 11)
      sim.submit('node-1', name, simSpec({ type: 'service', env: { SIM_DURATION_MS: '3600000' }, disconnect: { replace: true, reconcile: 'keep_replacement', stopAfterMs: null } }))
      sim.runUntilTrue(() => running(sim, name).length === 1, 5_000)
      if (!sim.core('node-1').replicaSet(name).includes(running(sim, name)[0] as string)) { job = name; break }
    }
    expect(job).not.toBe('')
    const zombie = running(sim, job)[0] as string
    sim.freeze(zombie)
    sim.runUntilTrue(() => running(sim, job).some((n) => n !== zombie), 10_000)
    sim.thaw(zombie)
    // Nobody sends it the change (it was dead when the run moved): its lease brings the news.
    sim.runUntilTrue(() => !running(sim, job).includes(zombie), 15_000)
    expect(running(sim, job)).toHaveLength(1)
  })

  it('places on capacity that rides on digests and answers: no record changes, and the last free slots are found', () => {
    const sim = cluster(24, 6)
    const before = sim.core('node-1').records().map((r) => [r.id, r.seq])
    const svc = (id: string, via: string): void => { sim.submit(via, id, simSpec({ type: 'service', resources: { cpu: 2, memoryMb: 64 }, env: { SIM_DURATION_MS: '3600000' } })) }
    // 44 services of 2 cpu on 24 nodes of 4 cpu: 4 slots stay free, on a few nodes.
    const ids = Array.from({ length: 44 }, (_, i) => `f${i}`)
    ids.forEach((id, i) => svc(id, `node-${1 + (i % 24)}`))
    sim.runUntilTrue(() => ids.every((id) => running(sim, id).length === 1), 10_000)
    // The arbiter's view of the cell (digests, answers, its own claims) finds the last four slots:
    // each starts within a few round trips, not after a retry (500 ms).
    for (let i = 0; i < 4; i++) {
      svc(`last${i}`, 'node-1')
      expect(sim.runUntilTrue(() => running(sim, `last${i}`).length === 1, 5_000), `last${i}`).toBeLessThan(100)
    }
    expect(sim.violations()).toEqual({ duplicates: [], overcommit: [] })
    for (const id of sim.ids()) expect(sim.procsOn(id).length, id).toBe(2)
    // No member record changed: free capacity is not part of membership.
    expect(sim.core('node-1').records().map((r) => [r.id, r.seq])).toEqual(before)
  })

  it('in a full cell, waiting instances cost a bounded number of messages, and one runs as soon as room is made', () => {
    const sim = cluster(24, 7)
    const svc = (id: string): void => { sim.submit('node-2', id, simSpec({ type: 'service', resources: { cpu: 2, memoryMb: 64 }, env: { SIM_DURATION_MS: '3600000' } })) }
    const fill = Array.from({ length: 48 }, (_, i) => `f${i}`)
    fill.forEach(svc)
    sim.runUntilTrue(() => fill.every((id) => running(sim, id).length === 1), 10_000)
    // Ten more, all decided by one arbiter (node-1: the first storing node of each).
    const waiting: string[] = []
    for (let i = 0; waiting.length < 10; i++) if (sim.core('node-1').replicaSet(`w${i}`)[0] === 'node-1') waiting.push(`w${i}`)
    waiting.forEach(svc)
    sim.run(1_000)
    let sent = 0
    let asks = 0
    sim.hooks.onSend = (_at, from, _to, msg) => {
      if (from !== 'node-1') return
      if (msg.type === 'job-delta' || msg.type === 'start' || msg.type === 'store-job') sent++
      if (msg.type === 'capacity') asks++
    }
    sim.run(10_000)
    for (const id of waiting) expect(sim.core('node-1').jobRecord(id)?.pendingReason ?? '', id).toMatch(/cpu/)
    // Nothing but a pending reason whose figures moved, at most once per job per 5 s, to its two
    // other storing nodes.
    expect(sent).toBeLessThanOrEqual(waiting.length * 2 * 2)
    // Probes keep most figures recent; a node whose figure is old is asked at most once a
    // second whatever the number of instances waiting (23 others: at most 230 in 10 s).
    expect(asks).toBeLessThan(230)
    // Room made (a cancel): the freed node's next activity digest says so, and a waiting instance runs.
    const at = sim.now
    sim.api('node-2', { op: 'cancel', id: 'f0' })
    const took = sim.runUntilTrue(() => waiting.some((id) => running(sim, id).length === 1), 5_000)
    expect(took - at).toBeLessThan(1_000)
    expect(sim.violations()).toEqual({ duplicates: [], overcommit: [] })
  })

  it('an arbiter keeps nothing per instance or run once its jobs ended', () => {
    const sim = cluster(24, 8)
    // More than fits at once (24 nodes of 4 cpu, jobs of 2 cpu for 300 ms): instances wait, are
    // turned down, retry, and every job still ends.
    const ids = Array.from({ length: 80 }, (_, i) => `b${i}`)
    ids.forEach((id, i) => sim.submit(`node-${1 + (i % 24)}`, id, simSpec({ resources: { cpu: 2, memoryMb: 64 }, env: { SIM_DURATION_MS: '300' } })))
    sim.runUntilTrue(() => ids.every((id) => sim.core(sim.core('node-1').replicaSet(id)[0] as string).jobStatus(id)?.state === 'succeeded'), 60_000)
    sim.run(2_000)
    for (const id of sim.ids()) expect(sim.core(id).arbiterEntries(), id).toBe(0)
  })
})
