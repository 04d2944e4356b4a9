// 50 agents started at once on one 2-core machine (issue 19), in the simulator with the CPU model
// of a small machine (test/support/cpu-starved.ts): every node needs CPU to start, to shake hands
// and to handle each message, and a node that falls behind stalls. Members that stall past their
// suspicion timeout are declared dead and refute when they catch up, so a protocol that spends
// the machine's CPU on handshakes with starved members keeps the cluster from converging.
import { describe, expect, it } from 'vitest'
import { colocated, LAN } from '../../src/core/config.js'
import { SMALL_MACHINE, StarvedCluster } from '../support/cpu-starved.js'

/**
 * In the model the cores are busy for ~26 s just starting 50 agents, and every joiner is taken in
 * by one seed that gets a fiftieth of the machine (test/support/cpu-starved.ts): the seed takes in
 * the last joiner at ~40 s, as in real traces (real agents, the bench: 44 s). The seed relays
 * each joiner it takes in (src/core/membership-outbox.ts), so that joiners do not wait for
 * push-pull to hear of each other once they are in.
 *
 * One seed is one draw of a chaotic process: any change to the random draws (a probe order, a
 * sync partner) moves a seed's figure by a few seconds either way. Measured with relays on seeds
 * 1-8: 37.6-45.8 s, median 40.6 s (38.8-44.1 s, median 40.7 s without them: with the model's
 * connections made at once, not in tens of seconds as under real load, push-pull on new
 * connections spreads joiners about as fast); the median of eight seeds is stable to a few
 * hundred ms, and the worst seed is bounded too. Earlier bounds (31 s, 35 s) were of the earlier
 * model, whose joiners had 8 connections from the start.
 */
const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8]
const MEDIAN_CONVERGED_WITHIN_MS = 42_000
const WORST_CONVERGED_WITHIN_MS = 48_000

function timeToDead(c: StarvedCluster, victim: string, how: 'kill' | 'freeze'): number {
  const others = c.sim.ids().filter((id) => id !== victim && c.sim.runState(id) === 'up')
  if (how === 'kill') c.kill(victim)
  else c.freeze(victim)
  return c.sim.runUntilTrue(() => others.every((o) => c.sim.stateOf(o, victim) === 'dead'), 15_000)
}

describe('join storm: 50 agents launched at once on 2 cores', () => {
  it('all see 50 alive within 42 s of the launch (median of 8 seeds, the worst within 48 s), and detection keeps its bounds afterwards', () => {
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
