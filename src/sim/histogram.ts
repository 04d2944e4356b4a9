// Percentiles over many samples in bounded memory: log-spaced buckets 1% wide, so a percentile is
// exact to within 1% (gossip delivery delays reach 10^7 samples at 1,000 nodes). Small sample
// sets use exact percentiles (see percentile()).

const GROWTH = 1.01
const LOG_GROWTH = Math.log(GROWTH)
/** Values below this (ms) share the first bucket. */
const FLOOR = 0.001

export class Histogram {
  private readonly counts = new Map<number, number>()
  count = 0
  sum = 0
  max = -Infinity
  min = Infinity

  add(v: number): void {
    const b = v <= FLOOR ? 0 : 1 + Math.floor(Math.log(v / FLOOR) / LOG_GROWTH)
    this.counts.set(b, (this.counts.get(b) ?? 0) + 1)
    this.count++
    this.sum += v
    if (v > this.max) this.max = v
    if (v < this.min) this.min = v
  }

  /** The p-th percentile (0-100), to within 1%; NaN when empty. */
  percentile(p: number): number {
    if (this.count === 0) return NaN
    const rank = Math.max(1, Math.ceil((p / 100) * this.count))
    const keys = [...this.counts.keys()].sort((a, b) => a - b)
    let seen = 0
    for (const k of keys) {
      seen += this.counts.get(k) as number
      if (seen >= rank) {
        // The bucket's upper edge, clamped to what was really seen.
        const edge = k === 0 ? FLOOR : FLOOR * Math.pow(GROWTH, k)
        return Math.min(Math.max(edge, this.min), this.max)
      }
    }
    return this.max
  }

  mean(): number {
    return this.count === 0 ? NaN : this.sum / this.count
  }
}

/** Exact p-th percentile (nearest rank) of unsorted values; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN
  const s = [...values].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number
}
