// `npx tsx scripts/storm-sim.ts --sizes 10,30,50 --seeds 1,2,3 [--profile lan] [--colocated]`: the start-up storm in the simulator
// with a CPU model of a small machine (test/support/cpu-starved.ts): N agents launched at once on
// 2 cores, every message costing CPU. Per size and seed: when the last node came up, when all saw
// N alive, and what the membership protocol said meanwhile. Then one SIGKILL and one SIGSTOP:
// how long until every other node says dead. Deterministic: same seed, same figures.
import { parseArgs } from 'node:util'
import { colocated, PROFILES, type ProfileName } from '../src/core/config.js'
import { SMALL_MACHINE, StarvedCluster } from '../test/support/cpu-starved.js'

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10,30,50' },
    seeds: { type: 'string', default: '1,2,3' },
    'max-s': { type: 'string', default: '90' },
    // The simulator's default is the test profile; agents run lan unless told otherwise.
    profile: { type: 'string', default: 'test' },
    // As an agent on a loopback address runs it (config.ts, colocated()).
    colocated: { type: 'boolean', default: false },
  },
})
const profile = PROFILES[values.profile as ProfileName]
if (profile === undefined) throw new Error(`--profile: one of ${Object.keys(PROFILES).join(', ')}`)
const config = values.colocated ? colocated(profile) : profile
const list = (s: string | undefined): number[] => (s ?? '').split(',').map(Number).filter((x) => Number.isFinite(x) && x > 0)

function timeToDead(c: StarvedCluster, victim: string, how: 'kill' | 'freeze'): number | undefined {
  const others = c.sim.ids().filter((id) => id !== victim && c.sim.runState(id) === 'up')
  if (how === 'kill') c.kill(victim)
  else c.freeze(victim)
  try {
    return c.sim.runUntilTrue(() => others.every((o) => c.sim.stateOf(o, victim) === 'dead'), 15_000)
  } catch {
    return undefined
  }
}

for (const n of list(values.sizes)) {
  for (const seed of list(values.seeds)) {
    const c = new StarvedCluster(n, SMALL_MACHINE, seed, config)
    c.runUntilConverged(Number(values['max-s']) * 1000)
    const f = c.figures()
    const spent = [...c.spent.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)}`).join(', ')
    let after = ''
    if (f.convergedMs !== undefined) {
      c.sim.run(5_000)
      const kill = timeToDead(c, `node-${n}`, 'kill')
      c.sim.run(3_000)
      const stop = timeToDead(c, `node-${n - 1}`, 'freeze')
      after = `; SIGKILL -> dead everywhere ${kill?.toFixed(0) ?? '>15000'} ms, SIGSTOP ${stop?.toFixed(0) ?? '>15000'} ms`
    }
    console.log(`n=${n} seed=${seed}: last up ${(f.lastUpMs / 1000).toFixed(1)} s, all see ${n} alive ${f.convergedMs === undefined ? 'NEVER' : `${(f.convergedMs / 1000).toFixed(1)} s`}; ` +
      `publishes ${f.publishes}, peak ${f.peakDeliveriesPerSecond} received/s/node, suspicions ${f.suspicions}, deaths ${f.deaths}, refutations ${f.refutations}, max incarnation ${f.maxIncarnation}, cpu ${(100 * f.cpuUse).toFixed(0)}%, ${f.connections} connections${after}\n  cpu s by kind: ${spent}`)
  }
}
