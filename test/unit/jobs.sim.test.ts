// The job protocol on the simulated network: real cores, simulated processes, seeded.
import { describe, expect, it } from 'vitest'
import { SimCluster, simSpec } from '../../src/sim/sim-cluster.js'

function cluster(n: number, seed = 1): SimCluster {
  const sim = new SimCluster({ seed, latencyMs: 1, jitterMs: 1 })
  for (let i = 1; i <= n; i++) sim.start(`node-${i}`, `n${i}`)
  sim.runUntilTrue(() => sim.ids().every((o) => sim.core(o).records().filter((r) => r.state === 'alive').length === n), 5_000)
  return sim
}

const stateOn = (sim: SimCluster, node: string, job: string): string | undefined => sim.core(node).jobStatus(job)?.state
/** The job is in `state` on every one of its storing nodes (nodes that neither store nor run it never hear of it). */
const everywhere = (sim: SimCluster, job: string, state: string): boolean => sim.statesOnStoring(job).every((s) => s === state)

describe('jobs', () => {
  it('acknowledges a submit only once the job is on disk on three nodes, and runs it once', () => {
    const sim = cluster(5)
    const req = sim.submit('node-1', 'j1', simSpec())
    sim.runUntilTrue(() => sim.replies.has(req), 2_000)
    expect(sim.replies.get(req)).toEqual({ status: 201, body: { id: 'j1' } })
    expect(sim.storedOn('j1')).toHaveLength(3)
    sim.runUntilTrue(() => everywhere(sim, 'j1', 'succeeded'), 5_000)
    expect(sim.runs.filter((r) => r.jobId === 'j1')).toHaveLength(1)
  })

  it('stores a submit on the next node in rank when one of its storing nodes does not answer', () => {
    const sim = cluster(6, 5)
    const via = 'node-1'
    const frozen = sim.core(via).replicaSet('jf').find((n) => n !== via) as string
    sim.freeze(frozen)
    const req = sim.submit(via, 'jf', simSpec())
    sim.runUntilTrue(() => sim.replies.has(req), 10_000)
    expect(sim.replies.get(req)).toEqual({ status: 201, body: { id: 'jf' } })
    // Three copies on disk, none of them on the node that never answered.
    const stored = sim.storedOn('jf')
    expect(stored).toHaveLength(3)
    expect(stored).not.toContain(frozen)
    sim.thaw(frozen)
  })

  it('runs 200 short jobs on 5 nodes: all succeed, none twice, no overcommit', () => {
    const sim = cluster(5, 7)
    for (let i = 0; i < 200; i++) sim.submit(`node-${1 + (i % 5)}`, `b${i}`, simSpec({ env: { SIM_DURATION_MS: String(50 + (i % 7) * 30) } }))
    sim.runUntilTrue(() => Array.from({ length: 200 }, (_, i) => `b${i}`).every((id) => everywhere(sim, id, 'succeeded')), 60_000)
    const perJob = new Map<string, number>()
    for (const r of sim.runs) perJob.set(r.jobId, (perJob.get(r.jobId) ?? 0) + 1)
    expect([...perJob.values()].every((c) => c === 1)).toBe(true)
    expect(sim.violations()).toEqual({ duplicates: [], overcommit: [] })
    // Load spreads: every node ran some.
    const perNode = new Set(sim.runs.map((r) => r.node))
    expect(perNode.size).toBe(5)
  })

  it('starts a job a few round trips after its submit: placement reacts to the job, not to a timer', () => {
    const sim = cluster(5, 3)
    sim.run(1_000)
    const waits: number[] = []
    for (let i = 0; i < 20; i++) {
      const at = sim.now
      sim.submit(`node-${1 + (i % 5)}`, `q${i}`, simSpec({ env: { SIM_DURATION_MS: '20' } }))
      sim.runUntilTrue(() => sim.runs.some((r) => r.jobId === `q${i}`), 2_000)
      waits.push((sim.runs.find((r) => r.jobId === `q${i}`)?.startedAt ?? Infinity) - at)
      sim.run(37) // land the next submit at another phase of the 100 ms tick
    }
    // To the arbiter, the claim with the store to the other storing nodes, start: ~3 round trips
    // of ~2 ms here. Waiting for the arbiter's next tick would add 0-100 ms to each.
    expect(Math.max(...waits)).toBeLessThan(40)
  })

  it('packs batch jobs onto as few nodes as fit them, and spreads services', () => {
    for (const type of ['batch', 'service'] as const) {
      const sim = cluster(5, 11)
      // 8 long-running jobs of 1 cpu on five 4-cpu nodes: two nodes hold them all if packed.
      for (let i = 0; i < 8; i++) {
        sim.submit(`node-${1 + (i % 5)}`, `${type}${i}`, simSpec({ type, resources: { cpu: 1, memoryMb: 64 }, env: { SIM_DURATION_MS: '3600000' } }))
        sim.runUntilTrue(() => sim.runs.some((r) => r.jobId === `${type}${i}`), 2_000)
        sim.run(300) // the node announces its new free capacity on its next tick
      }
      const used = new Set(sim.runs.map((r) => r.node)).size
      if (type === 'batch') expect(used, 'batch jobs packed').toBe(2)
      else expect(used, 'services spread').toBeGreaterThanOrEqual(4)
    }
  })

  it('gives one job for one idempotency id submitted to two nodes', () => {
    const sim = cluster(4)
    const a = sim.submit('node-1', 'same', simSpec())
    const b = sim.submit('node-3', 'same', simSpec())
    sim.runUntilTrue(() => sim.replies.has(a) && sim.replies.has(b), 2_000)
    sim.runUntilTrue(() => everywhere(sim, 'same', 'succeeded'), 5_000)
    sim.run(1_000)
    expect(sim.runs.filter((r) => r.jobId === 'same')).toHaveLength(1)
    for (const n of sim.storing('same')) expect(sim.core(n).jobStatuses().filter((j) => j.id === 'same')).toHaveLength(1)
  })

  it('keeps a job too big for any node pending with a reason, and runs it when a bigger node joins', () => {
    const sim = cluster(3)
    sim.submit('node-1', 'big', simSpec({ resources: { cpu: 1, memoryMb: 8192 } }))
    sim.run(2_000)
    const st = sim.core(sim.storing('big')[0]!).jobStatus('big')
    expect(st?.state).toBe('pending')
    expect(st?.pendingReason).toMatch(/3 nodes lack memory: need 8192 MB, most free 4096 MB/)
    sim.start('node-big', 'big1', { cpu: 8, memoryMb: 16384 })
    sim.runUntilTrue(() => everywhere(sim, 'big', 'succeeded'), 10_000)
    expect(sim.runs.find((r) => r.jobId === 'big')?.node).toBe('node-big')
  })

  it('restarts a failing batch instance up to its attempts, then fails the job', () => {
    const sim = cluster(3)
    sim.submit('node-1', 'bad', simSpec({ env: { SIM_EXIT_CODE: '3' }, restart: { attempts: 2, backoffMs: 200 } }))
    sim.runUntilTrue(() => everywhere(sim, 'bad', 'failed'), 10_000)
    expect(sim.runs.filter((r) => r.jobId === 'bad')).toHaveLength(3)
    const allocs = sim.core(sim.storing('bad')[0]!).jobStatus('bad')?.allocations ?? []
    expect(allocs.map((a) => [a.attempt, a.state, a.exitCode])).toEqual([[1, 'failed', 3], [2, 'failed', 3], [3, 'failed', 3]])
  })

  it('keeps a service running: every exit, clean or not, is followed by a new attempt after the backoff', () => {
    const sim = cluster(3)
    sim.submit('node-1', 'svc', simSpec({ type: 'service', env: { SIM_DURATION_MS: '300' }, restart: { attempts: 0, backoffMs: 500 } }))
    sim.runUntilTrue(() => sim.runs.filter((r) => r.jobId === 'svc').length >= 4, 10_000)
    const runs = sim.runs.filter((r) => r.jobId === 'svc')
    for (let i = 1; i < runs.length; i++) {
      // Backoff is measured from the previous run's end (plus message and tick delays).
      expect(runs[i]!.startedAt - runs[i - 1]!.endedAt!).toBeGreaterThanOrEqual(500)
    }
    expect(stateOn(sim, sim.storing('svc')[0]!, 'svc')).not.toBe('succeeded')
    expect(sim.violations().duplicates).toEqual([])
  })

  it('places count instances on different nodes', () => {
    const sim = cluster(5)
    sim.submit('node-2', 'wide', simSpec({ count: 4, env: { SIM_DURATION_MS: '500' } }))
    sim.runUntilTrue(() => everywhere(sim, 'wide', 'succeeded'), 10_000)
    expect(new Set(sim.runs.filter((r) => r.jobId === 'wide').map((r) => r.node)).size).toBe(4)
  })

  it('reports the instance of a killed node lost and runs it again elsewhere', () => {
    const sim = cluster(5, 3)
    sim.submit('node-1', 'long', simSpec({ env: { SIM_DURATION_MS: '5000' } }))
    sim.runUntilTrue(() => sim.runs.some((r) => r.jobId === 'long'), 3_000)
    const victim = (sim.runs.find((r) => r.jobId === 'long'))!.node
    sim.kill(victim)
    const took = sim.runUntilTrue(() => sim.runs.some((r) => r.jobId === 'long' && r.node !== victim), 10_000)
    expect(took).toBeLessThan(3_000)
    sim.runUntilTrue(() => everywhere(sim, 'long', 'succeeded'), 15_000)
    const allocs = sim.core(sim.storing('long')[0]!).jobStatus('long')?.allocations ?? []
    expect(allocs.map((a) => a.state)).toEqual(['lost', 'succeeded'])
    expect(sim.violations().duplicates).toEqual([])
  })

  it('survives the death of the arbiter: its successor knows the grants, nothing runs twice', () => {
    for (const seed of [1, 2, 3, 4]) {
      const sim = cluster(5, seed)
      sim.submit('node-1', 'arb', simSpec({ count: 3, env: { SIM_DURATION_MS: '3000' } }))
      sim.run(30)
      // Kill the arbiter (the first replica by rendezvous rank) right in the middle of placing.
      const arbiter = sim.core('node-1').replicaSet('arb')[0]!
      expect(sim.storedOn('arb')).toContain(arbiter)
      sim.kill(arbiter)
      sim.runUntilTrue(() => everywhere(sim, 'arb', 'succeeded'), 20_000)
      expect(sim.violations().duplicates, `seed ${seed}`).toEqual([])
    }
  })

  it('cancels a running job everywhere and kills its process', () => {
    const sim = cluster(3)
    sim.submit('node-1', 'c', simSpec({ env: { SIM_DURATION_MS: '60000' } }))
    sim.runUntilTrue(() => sim.runs.some((r) => r.jobId === 'c'), 3_000)
    sim.cancel('node-3', 'c')
    sim.runUntilTrue(() => sim.runs.every((r) => r.endedAt !== null), 2_000)
    sim.runUntilTrue(() => everywhere(sim, 'c', 'cancelled'), 2_000)
    // The run's own end reaches every storing node too.
    sim.runUntilTrue(() => sim.storing('c').every((n) => sim.core(n).jobStatus('c')?.allocations.map((a) => a.state).join() === 'cancelled'), 2_000)
  })

  it('closes a claim that a cancel overtook before its start', () => {
    for (const seed of [1, 2, 3]) {
      const sim = cluster(3, seed)
      sim.submit('node-1', 'cc', simSpec({ env: { SIM_DURATION_MS: '60000' } }))
      // Cancel as soon as the claim exists anywhere, before the start has reached the node.
      sim.runUntilTrue(() => sim.ids().some((n) => (sim.core(n).jobStatus('cc')?.allocations.length ?? 0) > 0), 3_000)
      sim.cancel('node-2', 'cc')
      sim.runUntilTrue(() => sim.storing('cc').every((n) => {
        const j = sim.core(n).jobStatus('cc')
        return j?.state === 'cancelled' && j.allocations.every((a) => a.state === 'cancelled')
      }), 5_000)
      sim.runUntilTrue(() => sim.runs.every((r) => r.endedAt !== null), 2_000)
      expect(sim.core('node-3').free(), `seed ${seed}`).toEqual({ cpu: 4, memoryMb: 4096 })
    }
  })

  it('answers 404 for cancelling an unknown job and changes nothing', () => {
    const sim = cluster(2)
    const r = sim.cancel('node-1', 'nope')
    // node-1 does not hold it: it asks the job's other storing node first.
    sim.runUntilTrue(() => sim.replies.has(r), 3_000)
    expect(sim.replies.get(r)?.status).toBe(404)
    expect(sim.core('node-1').jobStatuses()).toEqual([])
  })
})
