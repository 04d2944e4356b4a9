// A joiner's first push-pull with its seed (membership.ts, config.ts syncTimeoutMs): the seed is
// answering every new member at once, so its answer may come late, and a late answer is the whole
// table the joiner needs.
import { describe, expect, it } from 'vitest'
import { LAN } from '../../src/core/config.js'
import { Membership } from '../../src/core/membership.js'
import { Rng } from '../../src/core/rng.js'
import type { CoreEvent, Effect } from '../../src/core/types.js'

type Send = Extract<Effect, { kind: 'send' }>

function joiner(): { m: Membership; step: (ev: CoreEvent, now: number) => Send[] } {
  let corr = 1
  const info = { id: 'joiner', name: 'j', addrs: [], api: '', resources: { total: { cpu: 1, memoryMb: 1 }, free: { cpu: 1, memoryMb: 1 } }, labels: {}, draining: false, allocations: 0 }
  const m = new Membership(info, 0, LAN, new Rng(1), 0, [], () => corr++)
  const step = (ev: CoreEvent, now: number): Send[] => {
    const out: Effect[] = []
    m.handle(ev, now, out)
    return out.filter((e): e is Send => e.kind === 'send')
  }
  return { m, step }
}

const syncsTo = (sends: Send[], to: string): Send[] => sends.filter((s) => s.to === to && s.msg.type === 'sync')

describe('join sync', () => {
  it('a node that knows nobody waits 10 probe rounds for its seed, and does not ask it again meanwhile', () => {
    const { step } = joiner()
    const first = syncsTo(step({ kind: 'peer-connected', peer: 'seed' }, 100), 'seed')
    expect(first).toHaveLength(1)
    expect(first[0]?.timeoutMs).toBe(10 * LAN.probeRoundMs)
    // The periodic push-pull (every 5 s) finds the seed still answering: no second ask.
    let again: Send[] = []
    for (let now = 200; now < 10_000; now += LAN.tickMs) again.push(...syncsTo(step({ kind: 'tick' }, now), 'seed'))
    expect(again).toHaveLength(0)
    // Its ask timed out: the next periodic push-pull asks again.
    step({ kind: 'rpc-failed', to: 'seed', corr: first[0]?.corr as number, reason: 'timeout' }, 10_100)
    again = []
    for (let now = 10_200; now < 16_000; now += LAN.tickMs) again.push(...syncsTo(step({ kind: 'tick' }, now), 'seed'))
    expect(again).toHaveLength(1)
  })

  it('a late answer still fills the table; later push-pulls wait 2 probe rounds', () => {
    const { m, step } = joiner()
    const [ask] = syncsTo(step({ kind: 'peer-connected', peer: 'seed' }, 100), 'seed')
    const rec = (id: string) => ({ id, name: id, addrs: [], api: '', resources: { total: { cpu: 1, memoryMb: 1 }, free: { cpu: 1, memoryMb: 1 } }, labels: {}, draining: false, allocations: 0, incarnation: 1, state: 'alive' as const, seq: 0, by: '' })
    // 4 s later, past the 2 s a push-pull used to wait.
    step({ kind: 'rpc-response', from: 'seed', corr: ask?.corr as number, msg: { type: 'sync', records: [rec('seed'), rec('other')] } }, 4_100)
    expect(m.liveOthers()).toEqual(['other', 'seed'])
    const next = syncsTo(step({ kind: 'peer-connected', peer: 'other' }, 4_200), 'other')
    expect(next[0]?.timeoutMs).toBe(2 * LAN.probeRoundMs)
  })
})
