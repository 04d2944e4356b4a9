// Runs the chosen measurements in order, each `runs` times in sequence, and aggregates every
// figure into its median and spread over the runs. A run that throws is recorded (its figures
// are null, the error goes in the report) and the bench goes on with the next measurement. The
// shared cluster is started on first use and stopped before the measurements that start their
// own agents, so those do not share the two cores with it.
import { BenchCluster } from './cluster.js'
import { failover } from './measure-failover.js'
import { idle } from './measure-idle.js'
import { join } from './measure-join.js'
import { latency, loaded } from './measure-latency.js'
import { messages } from './measure-messages.js'
import { placement } from './measure-placement.js'
import { rss } from './measure-rss.js'
import { throughput } from './measure-throughput.js'
import type { BenchOptions, MeasurementName } from './options.js'
import { aggregate, type Figure } from './stats.js'
import type { BenchContext, Measurement } from './types.js'

const ALL: Measurement[] = [placement, idle, latency, messages, loaded, throughput, failover, join, rss]
/** The measurements that run on the shared cluster. */
const SHARED = new Set<MeasurementName>(['idle', 'latency', 'messages', 'loaded', 'throughput'])

export interface BenchResults {
  figures: Record<string, Figure>
  /** Per measurement, each run's details. */
  details: Record<string, unknown[]>
  notes: string[]
  errors: string[]
  /** Wall-clock seconds each measurement took, all runs together. */
  seconds: Record<string, number>
}

export async function runBench(options: BenchOptions, log: (line: string) => void): Promise<BenchResults> {
  let shared: BenchCluster | undefined
  const sharedCluster = async (): Promise<BenchCluster> => {
    if (shared !== undefined) return shared
    const c = new BenchCluster()
    const n = options.agents
    try {
      const { agents, launchedAt, readyAt } = await c.launch(n, 'a')
      const at = await c.waitAllSee(agents, n, 120_000)
      if (at === null) throw new Error(`shared cluster: ${n} agents did not all see ${n} alive within 120 s`)
      c.convergedAt = at
      log(`shared cluster: ${n} agents ready in ${((readyAt - launchedAt) / 1000).toFixed(1)} s, converged ${((at - readyAt) / 1000).toFixed(1)} s later`)
    } catch (err) {
      // The next measurement that needs it tries again from scratch.
      await c.stop()
      throw err
    }
    shared = c
    return c
  }
  const ctx: BenchContext = { options, sharedCluster, log }
  const perRun = new Map<string, Array<number | null>>()
  const results: BenchResults = { figures: {}, details: {}, notes: [], errors: [], seconds: {} }
  try {
    for (const m of ALL) {
      if (!options.only.has(m.name)) continue
      if (!SHARED.has(m.name) && shared !== undefined) {
        await shared.stop()
        shared = undefined
      }
      const t0 = Date.now()
      const runs = m.runs(options)
      const details: unknown[] = []
      try {
        for (let i = 0; i < runs; i++) {
          log(`${m.name}: run ${i + 1}/${runs}`)
          try {
            const r = await m.run(ctx, i)
            for (const [k, v] of Object.entries(r.figures)) {
              const xs = perRun.get(k) ?? []
              xs[i] = v
              perRun.set(k, xs)
            }
            details.push(r.details ?? {})
            for (const n of r.notes ?? []) if (!results.notes.includes(n)) results.notes.push(n)
          } catch (err) {
            const msg = `${m.name} run ${i + 1}: ${(err as Error).message.split('\n')[0]}`
            log(`FAILED ${msg}`)
            results.errors.push(msg)
            details.push({ error: msg })
          }
        }
      } finally {
        await m.finish?.().catch((err: unknown) => results.errors.push(`${m.name} cleanup: ${(err as Error).message}`))
      }
      results.details[m.name] = details
      results.seconds[m.name] = (Date.now() - t0) / 1000
      log(`${m.name}: done in ${results.seconds[m.name]?.toFixed(1)} s`)
    }
  } finally {
    await shared?.stop()
  }
  for (const [k, xs] of perRun) {
    // A run that made no value for a figure another run made counts as null (sparse arrays too).
    results.figures[k] = aggregate(Array.from({ length: xs.length }, (_, i) => xs[i] ?? null))
  }
  return results
}
