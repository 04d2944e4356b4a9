// 50 agents started at once on one 2-core machine (issue 19), in the simulator with the CPU model
// of a small machine (test/support/cpu-starved.ts): every node needs CPU to start, to shake hands
// and to handle each message, and a node that falls behind stalls. Members that stall past their
// suspicion timeout are declared dead and refute when they catch up, so a protocol that spends
// the machine's CPU on handshakes with starved members keeps the cluster from converging.
import { describe, expect, it } from 'vitest'
import { colocated, LAN } from '../../src/core/config.js'
import { SMALL_MACHINE, StarvedCluster } from '../support/cpu-starved.js'

/**
 * In the model the cores are busy for ~26 s just starting 50 agents and making their join
 * connections (0.5 s of CPU each to start, 25 ms a connection end); with every checker dialling
 * the suspect and the LAN dial rate, the last members flapped until 33-43 s.
 *
 * One seed is one draw of a chaotic process: any change to the random draws (a probe order, a
 * sync partner) moves a seed's figure by up to +-3 s either way, so a bound per seed on four seeds
 * failed or passed by luck (the same core gave 27.9-31.3 s on seeds 1-4 and 28.9-36.0 s on 5-8).
 * The median of eight seeds is stable to a few hundred ms; the worst seed is bounded too.
 */
const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8]
const MEDIAN_CONVERGED_WITHIN_MS = 31_000
const WORST_CONVERGED_WITHIN_MS = 35_000

function timeToDead(c: StarvedCluster, victim: string, how: 'kill' | 'freeze'): number {
  const others = c.sim.ids().filter((id) => id !== victim && c.sim.runState(id) === 'up')
  if (how === 'kill') c.kill(victim)
  else c.freeze(victim)
  return c.sim.runUntilTrue(() => others.every((o) => c.sim.stateOf(o, victim) === 'dead'), 15_000)
}

describe('join storm: 50 agents launched at once on 2 cores', () => {
  it('all see 50 alive within 31 s of the launch (median of 8 seeds, the worst within 35 s), and detection keeps its bounds afterwards', () => {
    const converged: number[] = []
    for (const seed of SEEDS) {
      const c = new StarvedCluster(50, SMALL_MACHINE, seed, colocated(LAN))
      c.runUntilConverged(90_000)
      const f = c.figures()
      expect(f.convergedMs, `seed ${seed}: ${JSON.stringify(f)}`).toBeDefined()
      expect(f.convergedMs as number, `seed ${seed}`).toBeLessThanOrEqual(WORST_CONVERGED_WITHIN_MS)
      converged.push(f.convergedMs as number)
      c.sim.run(5_000)
      expect(timeToDead(c, 'node-50', 'kill'), `seed ${seed}: SIGKILL`).toBeLessThanOrEqual(1_500)
      c.sim.run(3_000)
      expect(timeToDead(c, 'node-49', 'freeze'), `seed ${seed}: SIGSTOP`).toBeLessThanOrEqual(4_000)
    }
    const sorted = [...converged].sort((a, b) => a - b)
    const median = (sorted[3] as number + (sorted[4] as number)) / 2
    expect(median, `converged per seed: ${converged.join(', ')}`).toBeLessThanOrEqual(MEDIAN_CONVERGED_WITHIN_MS)
  })
})
