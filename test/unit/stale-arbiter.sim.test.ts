// A stale arbiter: one that was frozen while a submit waited for it, declared dead, and replaced
// by the next storing node, which placed the job. On thaw it reads the old submit with its old
// view and claims the same attempt for another node. The storing nodes hold that attempt for the
// first node already, so they must not grant the second claim: two runs of one (index, attempt)
// on two nodes could neither be fenced (the merge keeps one version of the allocation) nor
// recorded in `duplicates` (job-grants.ts, claimConflicts).
import { describe, expect, it } from 'vitest'
import { JOBS_DEFAULTS } from '../../src/core/jobs-config.js'
import type { RpcRequest } from '../../src/core/types.js'
import { SimCluster, simSpec } from '../../src/sim/sim-cluster.js'

/** Nodes 1-4 plain; node-5 and node-6 alike, the only ones labelled zone=b (the job's runners). */
function cluster(seed: number): SimCluster {
  // Stores time out before a frozen node is declared dead (~3 s here): the node a submit reached
  // gives up on the frozen arbiter while its view still holds it live.
  const sim = new SimCluster({ seed, latencyMs: 1, jitterMs: 1, jobsConfig: { ...JOBS_DEFAULTS, storeTimeoutMs: 1_000 } })
  for (let i = 1; i <= 4; i++) sim.start(`node-${i}`, `n${i}`)
  sim.start('node-5', 'n5', { cpu: 4, memoryMb: 4096 }, { zone: 'b', slot: '5' })
  sim.start('node-6', 'n6', { cpu: 4, memoryMb: 4096 }, { zone: 'b', slot: '6' })
  sim.runUntilTrue(() => sim.ids().every((o) => sim.core(o).records().filter((r) => r.state === 'alive').length === 6), 5_000)
  return sim
}

/** Claims of `job` a request carries: [attempt, node] of each allocation in state `claimed`. */
function claims(msg: RpcRequest, job: string): Array<[number, string]> {
  const allocs = msg.type === 'store-job' || msg.type === 'start'
    ? (msg.job.id === job ? Object.values(msg.job.allocations) : [])
    : msg.type === 'job-delta' ? msg.deltas.filter((d) => d.id === job).flatMap((d) => d.allocs ?? []) : []
  return allocs.filter((a) => a.state === 'claimed').map((a) => [a.attempt, a.nodeId])
}

interface Outcome {
  /** The node the replacing arbiter's run went to. */
  ranOn: string | undefined
  /** Nodes the thawed arbiter claimed attempt 1 for. */
  staleClaims: string[]
  runs: number
  duplicates: string[]
  /** Starts the thawed arbiter sent for the job. */
  staleStarts: number
  /** The allocations on each storing node at the end. */
  copies: string[][]
}

function scenario(seed: number, job: string): Outcome {
  const sim = cluster(seed)
  const [arbiter] = sim.storing(job) as [string]
  const via = ['node-1', 'node-2', 'node-3', 'node-4'].find((n) => n !== arbiter) as string
  const staleClaims: string[] = []
  let staleStarts = 0
  let frozen = false
  // A filler that only the held node can run, placed by an arbiter that is not frozen: while it
  // runs, the replacing arbiter sees no room there and sends the job to the other zone=b node.
  let filler = ''
  for (let i = 0; filler === ''; i++) if (!sim.storing(`filler-${i}`).includes(arbiter)) filler = `filler-${i}`
  sim.hooks.onSend = (at, from, to, msg) => {
    if (msg.type === "hold" && msg.id === job) {
      const slot = to === 'node-5' ? '5' : '6'
      sim.at(at, () => sim.submit(via, filler, simSpec({ constraints: [{ label: 'slot', op: '=', value: slot }], resources: { cpu: 3.5, memoryMb: 1024 }, env: { SIM_DURATION_MS: '60000' } })))
    }
    if (from !== arbiter || frozen) return
    for (const [attempt, node] of claims(msg, job)) if (attempt === 1 && !staleClaims.includes(node)) staleClaims.push(node)
    if (msg.type === 'start' && msg.job.id === job) staleStarts++
  }
  frozen = true
  sim.freeze(arbiter)
  // A submit another cell spilled here (`admit`): the node it reached holds room on the best node
  // and forwards it to the arbiter, which places its first instance on that node at once. The
  // arbiter is frozen: the submit waits in its socket. Its node gives up on it and stores the job
  // itself, and the next storing node places it once the arbiter is declared dead.
  sim.api(via, { op: 'submit', id: job, spec: simSpec({ constraints: [{ label: 'zone', op: '=', value: 'b' }], env: { SIM_DURATION_MS: '10000' } }), admit: 'room' })
  sim.runUntilTrue(() => sim.runs.some((r) => r.jobId === job), 15_000)
  const ranOn = sim.runs.find((r) => r.jobId === job)?.node
  sim.run(500)
  // The old arbiter wakes up and reads the submit with its view from before the freeze.
  frozen = false
  sim.thaw(arbiter)
  sim.run(8_000)
  // Every storing node, the thawed one too, holds the one run.
  const copies = sim.storing(job).map((n) => (sim.core(n).jobStatus(job)?.allocations ?? []).map((a) => `${a.attempt} ${a.state} ${a.nodeId}`))
  return { ranOn, staleClaims, runs: sim.runs.filter((r) => r.jobId === job).length, duplicates: sim.violations().duplicates, staleStarts, copies }
}

describe('an arbiter that thaws after another took its job over', () => {
  it('claims an attempt that already runs on another node, and the storing nodes do not grant it', () => {
    // The job ids whose stale claim goes to the other node than the run (the one the old view
    // prefers): the case that started a second run of one attempt.
    let tried = 0
    let found: Outcome | undefined
    const probe = cluster(7)
    // Jobs stored on neither runner: the runs start by `start` messages, not by stores.
    const candidates = Array.from({ length: 40 }, (_, i) => `stale-${i}`).filter((id) => !probe.storing(id).some((n) => n === 'node-5' || n === 'node-6')).slice(0, 12)
    for (const id of candidates) {
      if (found !== undefined) break
      const o = scenario(7, id)
      tried++
      if (o.ranOn !== undefined && o.staleClaims.some((n) => n !== o.ranOn)) found = o
    }
    expect(found, `no candidate of ${tried} made a stale claim on another node`).toBeDefined()
    const o = found as Outcome
    expect(o.staleClaims).toHaveLength(1)
    expect(o.duplicates).toEqual([])
    expect(o.runs).toBe(1)
    expect(o.staleStarts).toBe(0)
    expect(o.copies).toEqual([0, 1, 2].map(() => [`1 running ${o.ranOn}`]))
  })
})
