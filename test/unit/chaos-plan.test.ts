// The chaos plan: the fault schedule and the workload are a pure function of the seed, respect
// the limit on agents down at once, and the options round-trip through the replay command.
import { describe, expect, it } from 'vitest'
import { defaultMaxDown, parseChaosArgs, replayCommand } from '../../scripts/chaos/options.js'
import { planFaults, planWorkload } from '../../scripts/chaos/schedule.js'

const nodes = ['n1', 'n2', 'n3', 'n4', 'n5']

describe('chaos fault schedule', () => {
  it('is the same for the same seed and differs for another', () => {
    const a = planFaults({ seed: 1, nodes, seconds: 60, maxDown: 2 })
    expect(planFaults({ seed: 1, nodes, seconds: 60, maxDown: 2 })).toEqual(a)
    expect(planFaults({ seed: 2, nodes, seconds: 60, maxDown: 2 })).not.toEqual(a)
    expect(a.length).toBeGreaterThan(5)
    expect(new Set(a.map((f) => f.kind))).toEqual(new Set(['kill', 'stop', 'term']))
    expect(a.every((f) => f.at < 60_000 && nodes.includes(f.node))).toBe(true)
  })

  it('never plans a node busy twice or more than maxDown nodes busy at once', () => {
    for (let seed = 0; seed < 50; seed++) {
      for (const maxDown of [1, 2]) {
        const plan = planFaults({ seed, nodes, seconds: 60, maxDown })
        // A fault keeps its node busy at least for its down time.
        for (const f of plan) {
          const overlapping = plan.filter((g) => g !== f && g.at <= f.at && g.at + g.downMs > f.at)
          expect(overlapping.length).toBeLessThan(maxDown)
          expect(overlapping.some((g) => g.node === f.node)).toBe(false)
        }
      }
    }
  })

  it('plans no faults when none may be down', () => {
    expect(planFaults({ seed: 1, nodes: ['n1', 'n2', 'n3'], seconds: 60, maxDown: 0 })).toEqual([])
    expect(defaultMaxDown(3)).toBe(0)
    expect(defaultMaxDown(4)).toBe(1)
    expect(defaultMaxDown(5)).toBe(2)
    expect(defaultMaxDown(10)).toBe(2)
  })
})

describe('chaos workload', () => {
  it('spreads submissions over the first part of the window, deterministic keys', () => {
    const input = { seed: 3, jobs: 200, seconds: 60, nodes: 5, services: 0.05, minSleepMs: 500, maxSleepMs: 8000, submitFraction: 0.6 }
    const w = planWorkload(input)
    expect(planWorkload(input)).toEqual(w)
    expect(w).toHaveLength(200)
    expect(w[0]!.key).toBe('chaos-s3-0')
    expect(Math.max(...w.map((j) => j.at))).toBeLessThan(36_000)
    expect(w.every((j) => j.sleepMs >= 500 && j.sleepMs <= 8000 && j.cpu <= 0.75 && j.memoryMb <= 512 && j.via < 5)).toBe(true)
    const services = w.filter((j) => j.type === 'service').length
    expect(services).toBeGreaterThan(0)
    expect(services).toBeLessThan(30)
  })
})

describe('chaos options', () => {
  it('has the documented defaults and replays with the same options', () => {
    const o = parseChaosArgs(['--seed', '9'], 1)
    expect(o).toMatchObject({ nodes: 5, jobs: 200, seconds: 60, seed: 9, maxDown: 2, cpu: 2, memoryMb: 2048, json: false, keep: false })
    const custom = parseChaosArgs(['--nodes', '4', '--jobs', '30', '--seconds', '15', '--seed', '5', '--max-sleep-ms', '3000', '--json'], 1)
    const replay = replayCommand(custom)
    expect(replay).toBe('npm run chaos -- --nodes 4 --jobs 30 --seconds 15 --seed 5 --max-sleep-ms 3000 --keep')
    const args = replay.replace('npm run chaos -- ', '').split(' ')
    expect({ ...parseChaosArgs(args, 1), json: true, keep: false }).toEqual(custom)
  })

  it('refuses bad values', () => {
    expect(() => parseChaosArgs(['--nodes', '2'], 1)).toThrow(/--nodes/)
    expect(() => parseChaosArgs(['--seed', 'x'], 1)).toThrow(/--seed/)
    expect(() => parseChaosArgs(['--bogus'], 1)).toThrow()
  })
})
