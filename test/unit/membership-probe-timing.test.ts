// When a probe's answer still counts (membership.ts, startProbe): a direct ack until the end of
// the probe round, and for a member we must dial first, from the moment the connection is up.
// Both are what a busy machine needs: in a 50-agent join on 2 cores, the seed's acks came after
// 0.4-1 s and handshakes took seconds, and every such probe made a suspicion, refuted by gossip.
// The runtime is played by hand here: a request whose answer comes after its timeoutMs fails
// with 'timeout' instead, as src/node's channels do.
import { describe, expect, it } from 'vitest'
import { colocated, LAN } from '../../src/core/config.js'
import { Membership } from '../../src/core/membership.js'
import { Rng } from '../../src/core/rng.js'
import type { CoreEvent, Effect, NodeRecord } from '../../src/core/types.js'

type Send = Extract<Effect, { kind: 'send' }>
const config = colocated(LAN)

const record = (id: string): NodeRecord => ({ id, name: id, addrs: [], api: '', resources: { total: { cpu: 1, memoryMb: 1 }, free: { cpu: 1, memoryMb: 1 } }, labels: {}, draining: false, allocations: 0, incarnation: 1, state: 'alive', seq: 0, by: '' })

/** A node that knows `members` (from its seed's push-pull) and is connected to `connected`. */
function node(members: string[], connected: string[]): { m: Membership; step: Step } {
  let corr = 1
  const m = new Membership(record('me'), 0, config, new Rng(7), 0, [], () => corr++)
  const step = (ev: CoreEvent, now: number): Send[] => {
    const out: Effect[] = []
    m.handle(ev, now, out)
    return out.filter((e): e is Send => e.kind === 'send')
  }
  // Each connection starts a push-pull; the answers hold the whole table.
  const asks = connected.flatMap((peer) => step({ kind: 'peer-connected', peer }, 0)).filter((s) => s.msg.type === 'sync')
  for (const a of asks) step({ kind: 'rpc-response', from: a.to, corr: a.corr, msg: { type: 'sync', records: members.map(record) } }, 1)
  expect(m.liveOthers()).toEqual([...members].sort())
  return { m, step }
}

const probeOf = (sends: Send[], to: string): Send | undefined => sends.find((s) => s.to === to && s.msg.type === 'ping' && s.msg.from === null)

type Step = (ev: CoreEvent, now: number) => Send[]

/**
 * One tick at `now`. Every other member answers its pings at once, and relays through it of a
 * probe of someone else; a relay of a probe of the member `under` test is still waiting for it,
 * as the prober is. Returns what the tick sent.
 */
function tick(step: Step, now: number, under: string): Send[] {
  const sent = step({ kind: 'tick' }, now)
  for (const s of sent) {
    if (s.to === under) continue
    if (s.msg.type === 'ping') step({ kind: 'rpc-response', from: s.to, corr: s.corr, msg: { type: 'ack', seq: s.msg.seq } }, now)
    if (s.msg.type === 'ping-req' && s.msg.target !== under) step({ kind: 'rpc-response', from: s.to, corr: s.corr, msg: { type: 'ack', seq: s.msg.seq } }, now)
  }
  return sent
}

/** Ticks from `from` until a routine probe of `target` goes out (at most 60 s); returns it and when. */
function untilProbe(step: Step, target: string, from: number): { ping: Send; at: number } {
  for (let now = from; now < from + 60_000; now += config.tickMs) {
    const ping = probeOf(tick(step, now, target), target)
    if (ping !== undefined) return { ping, at: now }
  }
  throw new Error(`no probe of ${target} within 60 s`)
}

/** Ticks over [from, to): every request sent meanwhile. */
function ticks(step: Step, from: number, to: number, under: string): Send[] {
  const sent: Send[] = []
  for (let now = from; now < to; now += config.tickMs) sent.push(...tick(step, now, under))
  return sent
}

describe('probe timing', () => {
  it('a direct ack after probeTimeoutMs but within the round is an ack: no suspicion', () => {
    const { m, step } = node(['slow', 'other'], ['slow', 'other'])
    const { ping, at } = untilProbe(step, 'slow', 100)
    const lateMs = 700
    expect(lateMs).toBeGreaterThan(config.probeTimeoutMs)
    expect(lateMs).toBeLessThan(config.probeRoundMs)
    // The relays are asked at probeTimeoutMs (they do not answer here); the direct ping is still awaited.
    const meanwhile = ticks(step, at + config.tickMs, at + lateMs, 'slow')
    expect(meanwhile.filter((s) => s.msg.type === 'ping-req' && s.msg.target === 'slow').length).toBeGreaterThan(0)
    const answer: CoreEvent = lateMs <= ping.timeoutMs
      ? { kind: 'rpc-response', from: 'slow', corr: ping.corr, msg: { type: 'ack', seq: (ping.msg as { seq: number }).seq } }
      : { kind: 'rpc-failed', to: 'slow', corr: ping.corr, reason: 'timeout' }
    step(answer, at + lateMs)
    // From here on it answers at once again.
    const after = ticks(step, at + lateMs, at + 3 * config.probeRoundMs, '')
    expect(m.record('slow')?.state).toBe('alive')
    expect(after.filter((s) => s.msg.type === 'ping' && s.msg.from?.id === 'slow')).toEqual([])
  })

  it('a probe that must dial its member starts its clock when the connection is up', () => {
    const { m, step } = node(['seed', 'far'], ['seed'])
    const { ping, at } = untilProbe(step, 'far', 100)
    expect(ping.timeoutMs).toBeGreaterThanOrEqual(config.probeDialWaitMs)
    // The handshake takes 2.5 s: no relay asked, no suspicion meanwhile.
    const handshakeMs = 2_500
    expect(handshakeMs).toBeGreaterThan(config.probeRoundMs)
    expect(handshakeMs).toBeLessThan(config.probeDialWaitMs)
    const dialling = ticks(step, at + config.tickMs, at + handshakeMs, 'far')
    expect(dialling.filter((s) => s.msg.type === 'ping-req' && s.msg.target === 'far')).toEqual([])
    expect(m.record('far')?.state).toBe('alive')
    // Connected: the ack comes 300 ms later, inside the plain probe timeout from now.
    step({ kind: 'peer-connected', peer: 'far' }, at + handshakeMs)
    step({ kind: 'rpc-response', from: 'far', corr: ping.corr, msg: { type: 'ack', seq: (ping.msg as { seq: number }).seq } }, at + handshakeMs + 300)
    ticks(step, at + handshakeMs + 300, at + handshakeMs + 3 * config.probeRoundMs, '')
    expect(m.record('far')?.state).toBe('alive')
  })

  it('once connected, the probe has the plain round: a member that then never answers is suspected', () => {
    const { m, step } = node(['seed', 'far'], ['seed'])
    const { at } = untilProbe(step, 'far', 100)
    step({ kind: 'peer-connected', peer: 'far' }, at + 200)
    ticks(step, at + 300, at + 200 + config.probeRoundMs + 2 * config.tickMs, 'far')
    expect(m.record('far')?.state).toBe('suspect')
  })

  it('a member heard from within probeFreshMs is not probed on its turn; once it falls silent it is', () => {
    const { step } = node(['talker', 'quiet'], ['talker', 'quiet'])
    // 'talker' pings us every 300 ms (as its own probes would) for 20 s; 'quiet' never does.
    const sent: Send[] = []
    let lastHeard = 0
    for (let now = 100; now < 20_000; now += config.tickMs) {
      if (now % 300 === 0) {
        step({ kind: 'rpc-request', from: 'talker', reqId: now, msg: { type: 'ping', seq: now, from: null } }, now)
        lastHeard = now
      }
      sent.push(...tick(step, now, ''))
    }
    const steady = (to: string): number => sent.filter((s) => s.to === to && s.msg.type === 'ping').length
    expect(steady('quiet')).toBeGreaterThan(10)
    expect(steady('talker')).toBe(0)
    // Silent from now: once probeFreshMs passed, the next probe interval or the one after probes it.
    const { at } = untilProbe(step, 'talker', 20_000)
    expect(at - lastHeard).toBeGreaterThanOrEqual(config.probeFreshMs)
    expect(at - lastHeard).toBeLessThanOrEqual(config.probeFreshMs + 2 * config.probeIntervalMs)
  })
})
