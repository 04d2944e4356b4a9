// Plain-text output helpers for the CLI: aligned tables and compact numbers.

/** Left-aligned columns separated by two spaces; no trailing spaces. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd()
  return [line(header), ...rows.map(line)].join('\n') + '\n'
}

/** At most two decimals, no trailing zeros: 4 -> "4", 0.5 -> "0.5", 1/3 -> "0.33". */
export function formatNumber(n: number): string {
  return String(Math.round(n * 100) / 100)
}

/** A duration for humans: 850ms, 2.4s, 3m, 5h. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)}m`
  return `${Math.round(ms / 3_600_000)}h`
}

/** Peer ids all start with the same `12D3KooW`; the tail is what tells them apart. */
export function shortId(id: string): string {
  return id.length > 12 ? id.slice(-8) : id
}
