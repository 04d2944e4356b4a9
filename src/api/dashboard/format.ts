// How the page writes times, durations, ids and amounts.

const pad = (n: number, width = 2): string => String(n).padStart(width, '0')

/** `14:03:07.215` in the browser's time zone; '' for a missing or bad time. */
export function clock(iso: string | null | undefined): string {
  if (iso === null || iso === undefined || iso === '') return ''
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return ''
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`
}

/** `850 ms`, `3.2 s`, `4 min 10 s`, `2 h 5 min`. */
export function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return ''
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ${Math.floor((ms % 60_000) / 1000)} s`
  return `${Math.floor(ms / 3_600_000)} h ${Math.floor((ms % 3_600_000) / 60_000)} min`
}

/** How long ago an ISO time was, from the browser's clock. */
export function ago(iso: string, now = Date.now()): string {
  const t = Date.parse(iso)
  return Number.isNaN(t) ? '' : `${duration(Math.max(0, now - t))} ago`
}

/** A peer id's tail (`…2ChQ`): enough to tell nodes apart, short enough for a card. */
export function shortId(id: string): string {
  return id.length > 12 ? `…${id.slice(-8)}` : id
}

/** `0.5`, `2`, `1.25`: cpu amounts without float noise. */
export function cpu(n: number): string {
  return String(Math.round(n * 100) / 100)
}

/** `512 MB`, `23.5 GB`. */
export function memory(mb: number): string {
  return mb >= 10_240 ? `${(mb / 1024).toFixed(1)} GB` : `${Math.round(mb)} MB`
}
