// The seeded plan of a chaos run: which faults hit which agent when, and which jobs are submitted
// when. Pure: the same seed and options give the same plan, so a failing run can be replayed.
// The two plans draw from separate rng streams, so changing --jobs does not move the faults.
import { Rng } from '../../src/core/rng.js'
import type { FaultKind, PlannedFault, PlannedJob } from './types.js'

/**
 * Fault mix: kills and freezes are what the promises are about (processes outliving their agent,
 * a node that comes back believing it still runs its jobs); graceful stops are the everyday case.
 */
const FAULT_WEIGHTS: Array<[FaultKind, number]> = [['kill', 0.4], ['stop', 0.35], ['term', 0.25]]
/** Time between two faults: several a minute, often overlapping (up to maxDown). */
const GAP_MIN_MS = 1_500
const GAP_SPAN_MS = 4_500
/** The first fault waits for the first submissions to land somewhere. */
const FIRST_FAULT_MIN_MS = 2_000
/**
 * How long a fault keeps its node busy in the plan beyond its down time: a restart takes ~2-4 s
 * on two shared cores plus rejoining; a thawed node needs a probe round or two to refute.
 * The runner enforces the real limit; this only spreads the plan's targets sensibly.
 */
const RESTART_ALLOWANCE_MS = 8_000
const THAW_ALLOWANCE_MS = 3_000

export interface FaultPlanInput {
  seed: number
  nodes: string[]
  seconds: number
  maxDown: number
}

function pickKind(rng: Rng): FaultKind {
  let x = rng.next()
  for (const [kind, w] of FAULT_WEIGHTS) {
    if (x < w) return kind
    x -= w
  }
  return 'kill'
}

/** Down time by kind: kill 2-6 s before the restart, freeze 2-8 s, graceful stop 1-4 s. */
function downTime(rng: Rng, kind: FaultKind): number {
  if (kind === 'kill') return 2_000 + rng.int(4_001)
  if (kind === 'stop') return 2_000 + rng.int(6_001)
  return 1_000 + rng.int(3_001)
}

export function planFaults(input: FaultPlanInput): PlannedFault[] {
  const rng = new Rng((input.seed ^ 0x5bd1e995) >>> 0)
  const windowMs = input.seconds * 1000
  const faults: PlannedFault[] = []
  if (input.maxDown <= 0 || input.nodes.length === 0) return faults
  const busy: Array<{ node: string; until: number }> = []
  let t = FIRST_FAULT_MIN_MS + rng.int(2_001)
  // Bounded: every iteration either adds a fault or moves t forward to a busy window's end.
  for (let guard = 0; t < windowMs && guard < 100_000; guard++) {
    const active = busy.filter((b) => b.until > t)
    if (active.length >= input.maxDown) {
      t = Math.min(...active.map((b) => b.until))
      continue
    }
    const kind = pickKind(rng)
    const downMs = downTime(rng, kind)
    const free = input.nodes.filter((n) => !active.some((b) => b.node === n))
    const node = free[rng.int(free.length)] as string
    faults.push({ seq: faults.length + 1, at: t, kind, node, downMs })
    busy.push({ node, until: t + downMs + (kind === 'stop' ? THAW_ALLOWANCE_MS : RESTART_ALLOWANCE_MS) })
    t += GAP_MIN_MS + rng.int(GAP_SPAN_MS + 1)
  }
  return faults
}

export interface WorkloadInput {
  seed: number
  jobs: number
  seconds: number
  nodes: number
  services: number
  minSleepMs: number
  maxSleepMs: number
  submitFraction: number
}

/**
 * Sizes: a quarter to three quarters of a core and 128-512 MB, so a 2-core / 2048 MB agent holds
 * about four at once and the workload (more than the cluster holds at the peak) queues.
 */
const CPU_SIZES = [0.25, 0.5, 0.5, 0.75]
const MEM_SIZES = [128, 256, 384, 512]
/** Some jobs have two instances, each placed on its own. */
const TWO_INSTANCES = 0.15

export function planWorkload(input: WorkloadInput): PlannedJob[] {
  const rng = new Rng(input.seed >>> 0)
  const windowMs = input.seconds * 1000 * input.submitFraction
  const jobs: PlannedJob[] = []
  for (let i = 0; i < input.jobs; i++) {
    const type = rng.next() < input.services ? 'service' : 'batch'
    jobs.push({
      seq: i,
      key: `chaos-s${input.seed}-${i}`,
      at: Math.floor((i * windowMs) / Math.max(1, input.jobs)),
      via: rng.int(Math.max(1, input.nodes)),
      type,
      count: rng.next() < TWO_INSTANCES ? 2 : 1,
      cpu: CPU_SIZES[rng.int(CPU_SIZES.length)] as number,
      memoryMb: MEM_SIZES[rng.int(MEM_SIZES.length)] as number,
      sleepMs: input.minSleepMs + rng.int(input.maxSleepMs - input.minSleepMs + 1),
    })
  }
  return jobs
}
