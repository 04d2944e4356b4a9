// Percentiles for the report. Pure.

/** The nearest-rank percentile (p in 0..100) of xs, or null for no samples. */
export function percentile(xs: number[], p: number): number | null {
  if (xs.length === 0) return null
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? null
}

export interface Summary {
  n: number
  p50: number | null
  p99: number | null
  max: number | null
}

export function summarize(xs: number[]): Summary {
  return { n: xs.length, p50: percentile(xs, 50), p99: percentile(xs, 99), max: xs.length === 0 ? null : Math.max(...xs) }
}
