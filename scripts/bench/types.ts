// What a measurement is to the runner: something that makes one sequential run at a time and
// returns that run's figures (flat names like `submitToStartMs.p50`), plus details for the JSON.
import type { BenchCluster } from './cluster.js'
import type { BenchOptions, MeasurementName } from './options.js'

/** One run's figures by name; null where the run could not produce one. */
export type RunFigures = Record<string, number | null>

export interface RunResult {
  figures: RunFigures
  /** Anything worth keeping in results.json beside the figures (counts, breakdowns). */
  details?: Record<string, unknown>
  /** Caveats a reader of the table must see (e.g. "measured without retention"). */
  notes?: string[]
}

export interface BenchContext {
  options: BenchOptions
  /** The shared cluster of `options.agents` agents, converged; started on first use. */
  sharedCluster(): Promise<BenchCluster>
  log(line: string): void
}

export interface Measurement {
  name: MeasurementName
  /** Runs this measurement makes (most: options.runs). */
  runs(options: BenchOptions): number
  run(ctx: BenchContext, index: number): Promise<RunResult>
  /** Called once after the last run (or a failure): stop what the measurement itself started. */
  finish?(): Promise<void>
}
