// Grants (src/core/job-grants.ts): a claim is on the disk of every live storing node before its
// run starts, and a start is never lost and never runs twice. Each test decides the fate of single
// messages (SimHooks.dropSend / dropReply) on the simulated network of real cores.
import { describe, expect, it } from 'vitest'
import { JOBS_DEFAULTS } from '../../src/core/jobs-config.js'
import type { RpcRequest } from '../../src/core/types.js'
import { SimCluster, simSpec } from '../../src/sim/sim-cluster.js'

/** Nodes 1-4 plain, node-5 the only one labelled zone=b (so a job can be sent to a node that does not store it). */
function cluster(seed: number, zoneB = { cpu: 4, memoryMb: 4096 }): SimCluster {
  const sim = new SimCluster({ seed, latencyMs: 1, jitterMs: 1 })
  for (let i = 1; i <= 4; i++) sim.start(`node-${i}`, `n${i}`)
  sim.start('node-5', 'n5', zoneB, { zone: 'b' })
  sim.runUntilTrue(() => sim.ids().every((o) => sim.core(o).records().filter((r) => r.state === 'alive').length === 5), 5_000)
  return sim
}

/** A job id whose storing nodes do not include `node`. */
function idNotStoredOn(sim: SimCluster, node: string, prefix: string): string {
  for (let i = 0; ; i++) if (!sim.storing(`${prefix}${i}`).includes(node)) return `${prefix}${i}`
}

const ZONE_B = [{ label: 'zone', op: '=' as const, value: 'b' }]
const runsOf = (sim: SimCluster, job: string): number => sim.runs.filter((r) => r.jobId === job).length
/** Whether a request carries a claim of `job` (a store of the job, or a delta with its allocation). */
function carriesClaim(msg: RpcRequest, job: string): boolean {
  if (msg.type === 'store-job' || msg.type === 'start') return msg.job.id === job
  if (msg.type === 'job-delta') return msg.deltas.some((d) => d.id === job && (d.allocs ?? []).some((a) => a.state === 'claimed'))
  return false
}

describe('grants', () => {
  it('starts a claim only once every other storing node has it on disk; a failed send is retried', () => {
    const sim = cluster(1)
    const job = 'gate'
    const [arbiter, , third] = sim.storing(job) as [string, string, string]
    // The third storing node gets nothing that carries the claim for a while (a slow link).
    let cut = true
    sim.hooks.dropSend = (_at, from, to, msg) => cut && from === arbiter && to === third && carriesClaim(msg, job)
    sim.submit('node-1', job, simSpec({ env: { SIM_DURATION_MS: '200' } }))
    sim.run(2_000)
    // No run: the node that would take over the job without the claim could place it again.
    expect(runsOf(sim, job)).toBe(0)
    expect(sim.core(arbiter).jobStatus(job)?.allocations.map((a) => a.state)).toEqual(['claimed'])
    cut = false
    // The lost store times out (storeTimeoutMs after the submit), and the claim goes again.
    sim.runUntilTrue(() => runsOf(sim, job) === 1, JOBS_DEFAULTS.storeTimeoutMs + JOBS_DEFAULTS.grantRetryMs)
    sim.runUntilTrue(() => sim.statesOnStoring(job).every((s) => s === 'succeeded'), 5_000)
    expect(runsOf(sim, job)).toBe(1)
  })

  it('sends a start again when it was lost, and the run starts once', () => {
    const sim = cluster(2)
    const job = idNotStoredOn(sim, 'node-5', 'lost-start-')
    let drops = 0
    sim.hooks.dropSend = (_at, _from, to, msg) => to === 'node-5' && msg.type === 'start' && drops++ === 0
    const at = sim.now
    sim.submit('node-1', job, simSpec({ constraints: ZONE_B, env: { SIM_DURATION_MS: '200' } }))
    const took = sim.runUntilTrue(() => runsOf(sim, job) === 1, 5_000)
    expect(drops).toBeGreaterThanOrEqual(2)
    expect(sim.now - at).toBeGreaterThanOrEqual(JOBS_DEFAULTS.claimResendMs)
    expect(took).toBeLessThan(JOBS_DEFAULTS.claimResendMs + 500)
    sim.runUntilTrue(() => sim.statesOnStoring(job).every((s) => s === 'succeeded'), 5_000)
    expect(runsOf(sim, job)).toBe(1)
  })

  it('a start whose answer was lost is sent again and the runner does not run it twice', () => {
    const sim = cluster(3)
    const job = idNotStoredOn(sim, 'node-5', 'lost-answer-')
    let dropped = 0
    sim.hooks.dropReply = (_at, from, _to, msg) => from === 'node-5' && msg.type === 'ok' && dropped++ < 3
    sim.submit('node-1', job, simSpec({ type: 'service', constraints: ZONE_B, env: { SIM_DURATION_MS: '3600000' } }))
    sim.runUntilTrue(() => runsOf(sim, job) === 1, 3_000)
    sim.run(3 * JOBS_DEFAULTS.claimResendMs)
    expect(runsOf(sim, job)).toBe(1)
    expect(sim.runs.filter((r) => r.jobId === job && r.endedAt === null)).toHaveLength(1)
    expect(sim.statesOnStoring(job)).toEqual(['running', 'running', 'running'])
  })

  it('a node whose own books have no room refuses the start; the claim closes as lost and the instance waits for room', () => {
    // node-5 has room for one 1-cpu run; two jobs only it can run, placed by two arbiters at once.
    const sim = cluster(4, { cpu: 1, memoryMb: 4096 })
    let a = ''
    let b = ''
    for (let i = 0; a === '' || b === ''; i++) {
      const id = `race-${i}`
      if (sim.storing(id).includes('node-5')) continue
      if (a === '') a = id
      else if (sim.storing(id)[0] !== sim.storing(a)[0]) b = id
    }
    const spec = simSpec({ constraints: ZONE_B, resources: { cpu: 1, memoryMb: 64 }, env: { SIM_DURATION_MS: '1000' } })
    sim.submit('node-1', a, spec)
    sim.submit('node-2', b, spec)
    sim.runUntilTrue(() => runsOf(sim, a) + runsOf(sim, b) === 2, 10_000)
    expect(sim.violations()).toEqual({ duplicates: [], overcommit: [] })
    const refused = [a, b].flatMap((id) => sim.core(sim.storing(id)[0]!).jobStatus(id)?.allocations ?? []).filter((x) => x.state === 'lost')
    expect(refused.map((x) => x.reason)).toEqual([expect.stringMatching(/refused the start: needs 1 cpu/)])
    sim.runUntilTrue(() => [a, b].every((id) => sim.statesOnStoring(id).every((s) => s === 'succeeded')), 10_000)
  })
})

describe('the arbiter dies between a claim and its start', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    it(`nothing runs twice, and the run starts within claimResendMs of the takeover (seed ${seed})`, () => {
      const sim = cluster(seed)
      const job = idNotStoredOn(sim, 'node-5', 'takeover-')
      const arbiter = sim.storing(job)[0] as string
      // The arbiter dies the moment its start leaves: the storing nodes hold the claim, the runner
      // never got the start.
      let killedAt = 0
      sim.hooks.dropSend = (at, from, to, msg) => {
        if (from !== arbiter || to !== 'node-5' || msg.type !== 'start' || killedAt !== 0) return false
        killedAt = at
        sim.at(at, () => sim.kill(arbiter))
        return true
      }
      sim.submit(arbiter === 'node-1' ? 'node-2' : 'node-1', job, simSpec({ type: 'service', constraints: ZONE_B, env: { SIM_DURATION_MS: '3600000' } }))
      sim.runUntilTrue(() => killedAt !== 0, 3_000)
      sim.runUntilTrue(() => runsOf(sim, job) === 1, 10_000)
      const startedAt = sim.runs.find((r) => r.jobId === job)?.startedAt as number
      // Death is declared in ~1-2.5 s (no refused dial here: the kill closes its connections),
      // and the next storing node grants the claim again after claimResendMs.
      expect(startedAt - killedAt).toBeLessThan(3_000 + JOBS_DEFAULTS.claimResendMs + 500)
      sim.run(5_000)
      expect(runsOf(sim, job)).toBe(1)
      expect(sim.violations()).toEqual({ duplicates: [], overcommit: [] })
      const allocs = sim.core(sim.storing(job)[0]!).jobStatus(job)?.allocations ?? []
      expect(allocs.map((x) => [x.attempt, x.state, x.nodeId])).toEqual([[1, 'running', 'node-5']])
    })
  }

  it('after the start went out, the next arbiter does not start it again', () => {
    const sim = cluster(6)
    const job = idNotStoredOn(sim, 'node-5', 'after-start-')
    const arbiter = sim.storing(job)[0] as string
    sim.submit(arbiter === 'node-1' ? 'node-2' : 'node-1', job, simSpec({ type: 'service', constraints: ZONE_B, env: { SIM_DURATION_MS: '3600000' } }))
    sim.runUntilTrue(() => runsOf(sim, job) === 1, 3_000)
    sim.kill(arbiter)
    sim.run(10_000)
    expect(runsOf(sim, job)).toBe(1)
    expect(sim.violations()).toEqual({ duplicates: [], overcommit: [] })
  })
})

describe('a start that waited out a freeze', () => {
  it('is not run once the node thaws: the instance ran elsewhere meanwhile (the node asks for fresh copies first)', () => {
    const sim = new SimCluster({ seed: 9, latencyMs: 1, jitterMs: 1 })
    for (let i = 1; i <= 3; i++) sim.start(`node-${i}`, `n${i}`)
    sim.start('node-4', 'n4', { cpu: 4, memoryMb: 4096 }, { zone: 'b' })
    sim.start('node-5', 'n5', { cpu: 4, memoryMb: 4096 }, { zone: 'b' })
    sim.runUntilTrue(() => sim.ids().every((o) => sim.core(o).records().filter((r) => r.state === 'alive').length === 5), 5_000)
    let job = ''
    for (let i = 0; job === ''; i++) if (!sim.storing(`thaw-${i}`).some((n) => n === 'node-4' || n === 'node-5')) job = `thaw-${i}`
    // The runner freezes the moment its start leaves the arbiter: the start waits in its socket.
    let frozen = ''
    sim.hooks.onSend = (at, _from, to, msg) => {
      if (frozen === '' && msg.type === 'start' && msg.job.id === job) { frozen = to; sim.at(at, () => sim.freeze(to)) }
    }
    sim.submit('node-1', job, simSpec({ constraints: ZONE_B, env: { SIM_DURATION_MS: '300' } }))
    sim.runUntilTrue(() => frozen !== '' && sim.statesOnStoring(job).every((s) => s === 'succeeded'), 15_000)
    const other = frozen === 'node-4' ? 'node-5' : 'node-4'
    expect(sim.runs.filter((r) => r.jobId === job).map((r) => r.node)).toEqual([other])
    sim.thaw(frozen)
    sim.run(5_000)
    expect(sim.runs.filter((r) => r.jobId === job).map((r) => r.node)).toEqual([other])
    expect(sim.violations()).toEqual({ duplicates: [], overcommit: [] })
  })
})
