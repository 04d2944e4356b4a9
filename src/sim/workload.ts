// The seeded workload of a simulated run: node shapes, a stream of batch jobs arriving at a rate,
// and the long-running "fill" jobs that measure packing against best-fit-decreasing. The shapes
// are a plausible mix, not a trace: what matters is that the same seed gives the same workload.
import type { JobSpec } from '../core/job-types.js'
import { Rng, seedFromString } from '../core/rng.js'
import type { Resources } from '../core/types.js'
import { peerIdLike, simSpec } from './sim-cluster.js'

export interface NodeShape {
  id: string
  name: string
  total: Resources
}

/** Half 4-cpu nodes, a third 8-cpu, the rest 16-cpu; 2 GB of memory per cpu. Ids are peer-id-like. */
export function nodeShapes(n: number, seed: number): NodeShape[] {
  const rng = new Rng(seed ^ seedFromString('workload/nodes'))
  return Array.from({ length: n }, (_, i) => {
    const u = rng.next()
    const cpu = u < 0.5 ? 4 : u < 0.83 ? 8 : 16
    return { id: peerIdLike(i + 1), name: `n${i + 1}`, total: { cpu, memoryMb: cpu * 2048 } }
  })
}

export interface WorkloadJob {
  id: string
  /** ms after the workload starts. */
  at: number
  spec: JobSpec
}

const CPU_CHOICES: ReadonlyArray<[number, number]> = [[0.25, 0.3], [0.5, 0.3], [1, 0.25], [2, 0.15]]
const MEM_PER_CPU: readonly number[] = [256, 512, 1024, 2048]

function pick<T>(rng: Rng, weighted: ReadonlyArray<[T, number]>): T {
  let u = rng.next()
  for (const [v, w] of weighted) {
    if (u < w) return v
    u -= w
  }
  return (weighted[weighted.length - 1] as [T, number])[0]
}

function resources(rng: Rng): Resources {
  const cpu = pick(rng, CPU_CHOICES)
  const perCpu = MEM_PER_CPU[rng.int(MEM_PER_CPU.length)] as number
  return { cpu, memoryMb: Math.max(64, Math.round(cpu * perCpu)) }
}

/** Mean cpu x instances x seconds of one workload job, for choosing a rate (see defaultRate). */
const MEAN_CPU = CPU_CHOICES.reduce((s, [c, w]) => s + c * w, 0)
const MEAN_COUNT = 0.85 * 1 + 0.1 * 2 + 0.05 * 3
export const MEDIAN_DURATION_MS = 4_000
const DURATION_SIGMA = 0.8
/** How much of its drawn run time each attempt of an always-failing job runs before it exits 1. */
const FAILING_SHARE = 0.25

/** Jobs per second that keep about `utilisation` of the cluster's cpu busy. */
export function defaultRate(totalCpu: number, medianDurationMs = MEDIAN_DURATION_MS, utilisation = 0.5): number {
  const meanDurationS = (medianDurationMs / 1000) * Math.exp((DURATION_SIGMA * DURATION_SIGMA) / 2)
  return (utilisation * totalCpu) / (MEAN_CPU * MEAN_COUNT * meanDurationS)
}

/**
 * `jobs` batch jobs arriving as a Poisson stream of `ratePerSec`. Durations are lognormal
 * (median 4 s by default, at most 15x the median), most jobs have one instance, and 3% fail on
 * every attempt (exit code 1), each attempt after a quarter of the job's drawn run time
 * (FAILING_SHARE): a job that always fails usually does so well before it would have finished
 * (a bad input, a missing file). When failing attempts ran their whole drawn time, the three
 * attempts of the longest failing jobs (up to 3 x 60 s) outlasted the 120 s settle limit, so
 * every large run ended at that limit with a few jobs unfinished, ~100 simulated seconds of an
 * idle cluster after the burst (~1 s of wall time each at 10,000 nodes) that measured nothing
 * the idle window does not.
 */
export function workload(jobs: number, ratePerSec: number, seed: number, medianDurationMs = MEDIAN_DURATION_MS): WorkloadJob[] {
  const rng = new Rng(seed ^ seedFromString('workload/jobs'))
  const out: WorkloadJob[] = []
  let t = 0
  for (let i = 0; i < jobs; i++) {
    t += (-Math.log(1 - rng.next()) / ratePerSec) * 1000
    const z = Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next())
    const duration = Math.round(Math.min(15 * medianDurationMs, Math.max(medianDurationMs / 20, medianDurationMs * Math.exp(DURATION_SIGMA * z))))
    const u = rng.next()
    const count = u < 0.85 ? 1 : u < 0.95 ? 2 : 3
    const fails = rng.next() < 0.03
    const attemptMs = fails ? Math.max(1, Math.round(duration * FAILING_SHARE)) : duration
    out.push({
      id: `job-${i + 1}`, at: Math.round(t),
      spec: simSpec({
        name: `w${i + 1}`, resources: resources(rng), count,
        env: { SIM_DURATION_MS: String(attemptMs), ...(fails ? { SIM_EXIT_CODE: '1' } : {}) },
        restart: { attempts: 2, backoffMs: 500 },
      }),
    })
  }
  return out
}

/** A run that outlives any simulation: the fill jobs hold their capacity to the end. */
const FOREVER_MS = 1_000_000_000

/** Long-running single-instance jobs asking for `overbook` times the free cpu, from the same size mix. */
export function fillJobs(freeCpu: number, overbook: number, seed: number): Array<{ id: string; spec: JobSpec }> {
  const rng = new Rng(seed ^ seedFromString('workload/fill'))
  const out: Array<{ id: string; spec: JobSpec }> = []
  let asked = 0
  for (let i = 0; asked < freeCpu * overbook; i++) {
    const r = resources(rng)
    asked += r.cpu
    out.push({ id: `fill-${i + 1}`, spec: simSpec({ name: `f${i + 1}`, resources: r, env: { SIM_DURATION_MS: String(FOREVER_MS) }, restart: { attempts: 0, backoffMs: 0 } }) })
  }
  return out
}
