// Percentiles within a run and the median-with-spread over runs. Pure.

/** The nearest-rank percentile (p in 0..100) of xs, or null for no samples. */
export function percentile(xs: readonly number[], p: number): number | null {
  if (xs.length === 0) return null
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? null
}

/** p50 and p99 of one run's samples (null when there are none). */
export function p50p99(xs: readonly number[]): { p50: number | null; p99: number | null } {
  return { p50: percentile(xs, 50), p99: percentile(xs, 99) }
}

/** The median of xs (the mean of the middle two for an even count), or null for none. */
export function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid] as number : ((s[mid - 1] as number) + (s[mid] as number)) / 2
}

/** One figure over the sequential runs: their median, its spread (min, max) and every run's value. */
export interface Figure {
  median: number | null
  min: number | null
  max: number | null
  /** Each run's value in order; null where that run produced none (it failed or did not apply). */
  runs: Array<number | null>
}

export function aggregate(values: ReadonlyArray<number | null>): Figure {
  const xs = values.filter((v): v is number => v !== null && Number.isFinite(v))
  return {
    median: median(xs),
    min: xs.length === 0 ? null : Math.min(...xs),
    max: xs.length === 0 ? null : Math.max(...xs),
    runs: [...values],
  }
}

/** Rounds for display and JSON: 3 significant decimals below 10, 1 below 1000, integers above. */
export function round(v: number | null): number | null {
  if (v === null || !Number.isFinite(v)) return null
  const a = Math.abs(v)
  const digits = a < 10 ? 3 : a < 1000 ? 1 : 0
  const f = 10 ** digits
  return Math.round(v * f) / f
}
