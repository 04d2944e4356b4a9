// Gossipsub hands a peer that just connected the messages its neighbours published in their last
// few heartbeats (IHAVE/IWANT). A node that restarted would put those old activity digests on its
// new stream, after what its first life had shown: the chaos run saw a job told "succeeded", then
// "running (instance 1 succeeded)" again a second after the restart. A digest carries its author's
// clock, and a core drops those published before it started. Real cores, every digest through the
// wire codec.
import { describe, expect, it } from 'vitest'
import { Activity } from '../../src/core/activity.js'
import { TEST } from '../../src/core/config.js'
import { NodeCore } from '../../src/core/node-core.js'
import type { JobRecord } from '../../src/core/job-types.js'
import type { Effect, GossipMessage, JobEvent } from '../../src/core/types.js'
import { gossipCodec } from '../../src/gossip/codec.js'
import { simSpec } from '../../src/sim/sim-cluster.js'

const STARTED_AT = 50_000

function core(id: string, storedJobs: JobRecord[] = []): NodeCore {
  return NodeCore.create({
    self: { id, name: id, addrs: [`/ip4/127.0.0.1/tcp/7000/p2p/${id}`], api: 'http://127.0.0.1:7070', resources: { total: { cpu: 4, memoryMb: 4096 }, free: { cpu: 4, memoryMb: 4096 } }, labels: {}, draining: false, allocations: 0 },
    lastIncarnation: 1, config: TEST, seed: 1, now: STARTED_AT, storedJobs,
  }).core
}

/** j-1 as a storing node's disk holds it after both its runs succeeded. */
function succeeded(): JobRecord {
  const run = (index: number, node: string): JobRecord['allocations'][string] => ({ index, attempt: 1, nodeId: node, nodeName: node, state: 'succeeded', exitCode: 0, startedAt: 1_000, finishedAt: 9_000 })
  return { id: 'j-1', spec: simSpec({ name: 'one', count: 2 }), submittedAt: 900, cancelled: false, allocations: { '0/1': run(0, 'node-c'), '1/1': run(1, 'node-b') }, pendingReason: '', reasonVersion: 0 }
}

const running: JobEvent = { type: 'job', job: 'j-1', name: 'one', state: 'running', index: 1, attempt: 1, node: 'node-b', allocState: 'succeeded' }

function digest(at: number | undefined): GossipMessage {
  const msg: GossipMessage = { type: 'activity', node: 'node-b', free: { cpu: 1, memoryMb: 512 }, allocations: 3, events: [running], ...(at === undefined ? {} : { at }) }
  return gossipCodec.decode(gossipCodec.encode(msg))
}

const emitted = (effects: Effect[]): JobEvent[] => effects.flatMap((e) => (e.kind === 'emit' && e.event.type === 'job' ? [e.event] : []))

describe('activity digests published before a node started', () => {
  it('are dropped', () => {
    const c = core('node-a')
    expect(emitted(c.step({ kind: 'gossip', from: 'node-b', msg: digest(STARTED_AT - 2_000) }, STARTED_AT + 1_100))).toEqual([])
  })

  it('are shown when published at or after its start', () => {
    const c = core('node-a')
    expect(emitted(c.step({ kind: 'gossip', from: 'node-b', msg: digest(STARTED_AT) }, STARTED_AT + 5))).toEqual([running])
    expect(emitted(c.step({ kind: 'gossip', from: 'node-b', msg: digest(STARTED_AT + 900) }, STARTED_AT + 905))).toEqual([running])
  })

  it('are shown as heard: their author logs them, this node only shows them', () => {
    const c = core('node-a')
    const emits = c.step({ kind: 'gossip', from: 'node-b', msg: digest(STARTED_AT) }, STARTED_AT + 5).filter((e) => e.kind === 'emit')
    expect(emits).toEqual([{ kind: 'emit', event: running, heard: true }])
  })

  it('are shown when they carry no time (a node of an older version)', () => {
    const c = core('node-a')
    expect(emitted(c.step({ kind: 'gossip', from: 'node-b', msg: digest(undefined) }, STARTED_AT + 5))).toEqual([running])
  })

  it('news of an earlier phase of a job the disk holds as ended is dropped after a restart', () => {
    // The first life showed j-1 succeeded; a late digest (published after the restart) still says running.
    const c = core('node-a', [succeeded()])
    expect(emitted(c.step({ kind: 'gossip', from: 'node-b', msg: digest(STARTED_AT + 100) }, STARTED_AT + 105))).toEqual([])
    const ended: JobEvent = { ...running, state: 'succeeded' }
    const late = { ...(digest(STARTED_AT + 200) as Extract<GossipMessage, { type: 'activity' }>), events: [ended] }
    expect(emitted(c.step({ kind: 'gossip', from: 'node-b', msg: late }, STARTED_AT + 205))).toEqual([ended])
  })

  it('an idle node\'s first event waits the gathering time, and what follows meanwhile goes in the same digest', () => {
    const activity = new Activity('node-b', { intervalMs: 250, perNodeMs: 50, gatherMs: 50 }, () => 5, 60_000)
    const out: Effect[] = []
    const free = { cpu: 1, memoryMb: 512 }
    const published = (): Array<Extract<GossipMessage, { type: 'activity' }>> => out.flatMap((e) => (e.kind === 'publish' && e.msg.type === 'activity' ? [e.msg] : []))
    activity.authored(running, STARTED_AT, out)
    expect(activity.due(STARTED_AT)).toBe(false)
    expect(activity.wakeAt()).toBe(STARTED_AT + 50)
    const ended: JobEvent = { ...running, state: 'succeeded' }
    activity.authored(ended, STARTED_AT + 20, out)
    activity.flush(STARTED_AT + 49, free, 0, out)
    expect(published()).toEqual([])
    activity.flush(STARTED_AT + 50, free, 0, out)
    expect(published().map((m) => m.events)).toEqual([[running, ended]])
    // Busy: the next digest goes an interval after the last; its first event came long before that.
    activity.authored({ ...running, job: 'j-2' }, STARTED_AT + 60, out)
    expect(activity.wakeAt()).toBe(STARTED_AT + 300)
    activity.flush(STARTED_AT + 300, free, 0, out)
    expect(published()).toHaveLength(2)
    // Capacity alone is not gathered: it goes at the interval.
    activity.capacity()
    expect(activity.due(STARTED_AT + 550)).toBe(true)
  })

  it('a digest says when it was published', () => {
    const activity = new Activity('node-b', { intervalMs: 250, perNodeMs: 50, gatherMs: 50 }, () => 5, 60_000)
    const out: Effect[] = []
    activity.authored(running, STARTED_AT + 10, out)
    activity.flush(STARTED_AT + 300, { cpu: 1, memoryMb: 512 }, 3, out)
    const published = out.flatMap((e) => (e.kind === 'publish' && e.msg.type === 'activity' ? [e.msg] : []))
    expect(published).toHaveLength(1)
    expect(published[0]?.at).toBe(STARTED_AT + 300)
    expect(gossipCodec.decode(gossipCodec.encode(published[0] as GossipMessage))).toEqual(published[0])
  })
})
