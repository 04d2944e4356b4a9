// Whom the failure detector probes (src/core/probe-targets.ts): every member about once per SWIM
// cycle, whatever the connection mesh looks like.
import { describe, expect, it } from 'vitest'
import { LAN } from '../../src/core/config.js'
import { ProbeTargets } from '../../src/core/probe-targets.js'
import { Rng } from '../../src/core/rng.js'

const members = Array.from({ length: 49 }, (_, i) => `m${i + 1}`)
const INTERVAL_MS = LAN.probeIntervalMs

/** Probes per member over `ms`, next() called once per probe interval. */
function probeCounts(t: ProbeTargets, ms: number): Map<string, number> {
  const counts = new Map<string, number>()
  for (let now = 0; now < ms; now += INTERVAL_MS) {
    const id = t.next(members, () => true, now, 1)
    if (id !== undefined) counts.set(id, (counts.get(id) ?? 0) + 1)
  }
  return counts
}

describe('probe targets', () => {
  it('a node connected to its seed alone probes the seed about as often as SWIM would, not every interval', () => {
    // No dial is ever due: only the one connected member is reachable (a joiner before its mesh grows).
    const t = new ProbeTargets({ ...LAN, probeDialIntervalMs: 10 * 3_600_000 }, new Rng(7))
    t.mayReach('m1', 0, 1) // spends the first dial, as the join's own dial does
    t.connect('m1')
    const ms = 100_000
    const counts = probeCounts(t, ms)
    // SWIM probes one member per interval over a cycle of 49 intervals (24.5 s): 4 probes of m1
    // in 100 s. At most two members are looked at per interval, so at most twice that (plus the
    // cycle in progress); before, m1 was probed on every interval (200 times).
    expect(counts.get('m1') ?? 0).toBeGreaterThanOrEqual(4)
    expect(counts.get('m1') ?? 0).toBeLessThanOrEqual(2 * ms / (members.length * INTERVAL_MS) + 2)
    expect([...counts.keys()]).toEqual(['m1'])
  })

  it('in a full mesh every member is probed once per cycle, one probe per interval', () => {
    const t = new ProbeTargets(LAN, new Rng(3))
    for (const m of members) t.connect(m)
    const counts = probeCounts(t, 3 * members.length * INTERVAL_MS)
    expect(counts.size).toBe(members.length)
    for (const m of members) expect(counts.get(m), m).toBe(3)
  })

  it('a member not connected to is probed only when a dial is due, one per probeDialIntervalMs', () => {
    const t = new ProbeTargets(LAN, new Rng(5))
    const ms = 60_000
    const counts = probeCounts(t, ms)
    const probes = [...counts.values()].reduce((a, b) => a + b, 0)
    expect(probes).toBeLessThanOrEqual(ms / LAN.probeDialIntervalMs + 1)
    expect(probes).toBeGreaterThanOrEqual(ms / LAN.probeDialIntervalMs / 2)
  })

  it('the periodic push-pull goes to a member drawn from all, only when connected to it (anyone when connected to nobody)', () => {
    const t = new ProbeTargets(LAN, new Rng(11))
    const alone = Array.from({ length: 200 }, () => t.syncPartner(members))
    expect(alone.every((id) => id !== undefined)).toBe(true)
    t.connect('m1')
    const draws = Array.from({ length: 4_900 }, () => t.syncPartner(members))
    const toSeed = draws.filter((id) => id === 'm1').length
    // Connected to one of 49: about one draw in 49 goes out (it went to m1 every time before).
    expect(draws.every((id) => id === undefined || id === 'm1')).toBe(true)
    expect(toSeed).toBeGreaterThan(50)
    expect(toSeed).toBeLessThan(150)
  })
})
