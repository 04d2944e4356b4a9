// The message counters of GET /metrics (src/node/metrics.ts): direct requests sent
// (murmur_rpc_sent_total) and gossip messages published (murmur_gossip_published_total), by type,
// summed over agents. Keys are `rpc:<type>` and `gossip:<type>`.
import type { AgentProc } from './cluster.js'

const COUNTERS: Record<string, string> = { murmur_rpc_sent_total: 'rpc', murmur_gossip_published_total: 'gossip' }
const LINE = /^(murmur_rpc_sent_total|murmur_gossip_published_total)\{type="([^"]+)"\} (\S+)$/

export type Counts = Map<string, number>

/** Parses the two counters out of Prometheus text. */
export function parseCounters(text: string): Counts {
  const counts: Counts = new Map()
  for (const line of text.split('\n')) {
    const m = LINE.exec(line)
    if (m === null) continue
    const key = `${COUNTERS[m[1] as string]}:${m[2]}`
    counts.set(key, (counts.get(key) ?? 0) + Number(m[3]))
  }
  return counts
}

/** The counters of every agent, summed. */
export async function scrape(agents: readonly AgentProc[]): Promise<Counts> {
  const texts = await Promise.all(agents.map(async (a) => {
    const res = await fetch(`${a.api}/metrics`, { signal: AbortSignal.timeout(5_000) })
    if (!res.ok) throw new Error(`${a.name} /metrics answered ${res.status}`)
    return res.text()
  }))
  const sum: Counts = new Map()
  for (const t of texts) for (const [k, v] of parseCounters(t)) sum.set(k, (sum.get(k) ?? 0) + v)
  return sum
}

/** after - before, per key (keys of either). */
export function diff(after: Counts, before: Counts): Counts {
  const out: Counts = new Map()
  for (const k of new Set([...after.keys(), ...before.keys()])) out.set(k, (after.get(k) ?? 0) - (before.get(k) ?? 0))
  return out
}
