// The --faults grammar: what parses, what each fault means, and errors that name the bad part.
import { describe, expect, it } from 'vitest'
import { FaultSpecError, lastFaultTime, parseFaults } from '../../src/sim/faults.js'

describe('fault specs', () => {
  it('parses every kind, with node lists, shares and windows, sorted by time', () => {
    const f = parseFaults('partition:30%@15s-25s,kill:3@10s,restart:3@20s,freeze:2@5s-8s,kill:1+4@2.5s-3s,loss:5%@0s-1m,kill:busiest@500ms', 20)
    expect(f.map((x) => [x.kind, x.target, x.at, x.until])).toEqual([
      ['loss', { kind: 'share', percent: 5 }, 0, 60_000],
      ['kill', { kind: 'busiest' }, 500, undefined],
      ['kill', { kind: 'nodes', nodes: [1, 4] }, 2_500, 3_000],
      ['freeze', { kind: 'nodes', nodes: [2] }, 5_000, 8_000],
      ['kill', { kind: 'nodes', nodes: [3] }, 10_000, undefined],
      ['partition', { kind: 'share', percent: 30 }, 15_000, 25_000],
      ['restart', { kind: 'nodes', nodes: [3] }, 20_000, undefined],
    ])
    expect(lastFaultTime(f)).toBe(60_000)
    expect(parseFaults('', 3)).toEqual([])
    expect(parseFaults('none', 3)).toEqual([])
    expect(parseFaults('kill:node-2@1s', 3)[0]?.target).toEqual({ kind: 'nodes', nodes: [2] })
  })

  it.each([
    ['explode:1@1s', 'fault 1 "explode:1@1s": unknown kind "explode" (one of kill, restart, freeze, partition, loss)'],
    ['kill:1', 'fault 1 "kill:1": expected KIND:TARGET@TIME'],
    ['kill:1@10', '"10" is not a time (use 500ms, 10s or 2m)'],
    ['freeze:2@5s', 'freeze needs a window like @5s-10s'],
    ['partition:1+2@5s', 'partition needs a window'],
    ['freeze:2@8s-5s', 'the window ends (5s) before it starts (8s)'],
    ['restart:2@5s-6s', 'restart happens at one time, not over a window'],
    ['kill:21@1s', 'there is no node 21 (--nodes 20)'],
    ['kill:0@1s', '"0" is not a node number (1..20)'],
    ['kill:1+1@1s', 'node listed twice'],
    ['partition:150%@1s-2s', 'must be a percentage between 0 and 100'],
    ['loss:3@1s-2s', 'loss takes a rate like 5%'],
    ['partition:busiest@1s-2s', '"busiest" applies to kill and freeze'],
    ['kill:1@1s,restart:2@2s', 'fault "restart:2@2s": node 2 is not down at 2s (kill it first)'],
    ['kill:1@1s-5s,restart:1@6s', 'node 1 is not down at 6s'],
  ])('rejects %s with a reason', (spec, message) => {
    expect(() => parseFaults(spec, 20)).toThrow(FaultSpecError)
    expect(() => parseFaults(spec, 20)).toThrow(message)
  })

  it('accepts a restart after a kill of the same node, and names the fault by position', () => {
    expect(parseFaults('kill:2@1s,restart:2@3s', 4).map((f) => f.kind)).toEqual(['kill', 'restart'])
    expect(() => parseFaults('kill:1@1s,freeze:9@1s-2s', 4)).toThrow(/^fault 2 "freeze:9@1s-2s"/)
  })
})
