// The effect interpreter (src/core/effect-interpreter.ts): the persist barrier, one answer per
// send, one reply per inbound request, and requests to oneself answered in memory. Its ports here
// record what they are asked to do; writes are durable when the test says so.
import { describe, expect, it } from 'vitest'
import { EffectInterpreter, type EffectPorts } from '../../src/core/effect-interpreter.js'
import type { CoreEvent, Effect, RpcResponse } from '../../src/core/types.js'

const SELF = 'node-self'
const OK: RpcResponse = { type: 'ok' }

/** Ports that log each call as a short line, keep `soon` work for the test to run, and writes for it to complete. */
class RecordingPorts implements EffectPorts<string> {
  readonly log: string[] = []
  readonly stepped: CoreEvent[] = []
  readonly writes: number[] = []
  readonly later: Array<() => void> = []
  /** Writes complete inside persist() (a store without latency). */
  instant = false
  interp!: EffectInterpreter<string>

  persist(key: string, _value: unknown, seq: number): void {
    this.log.push(`persist ${key}`)
    if (this.instant) this.interp.persisted(seq)
    else this.writes.push(seq)
  }
  unpersist(key: string): void { this.log.push(`unpersist ${key}`) }
  publish(msg: { type: string }): void { this.log.push(`publish ${msg.type}`) }
  transmit(to: string, corr: number, msg: { type: string }, timeoutMs: number): void { this.log.push(`transmit ${msg.type} to ${to} corr ${corr} timeout ${timeoutMs}`) }
  guard(to: string, corr: number, ms: number): void { this.log.push(`guard ${to} corr ${corr} ${ms} ms`) }
  transmitReply(origin: string, msg: RpcResponse): void { this.log.push(`reply ${msg.type} to ${origin}`) }
  soon(fn: () => void): void { this.later.push(fn) }
  step(ev: CoreEvent): void { this.stepped.push(ev) }
  apiReply(reqId: number, reply: { status: number }): void { this.log.push(`api-reply ${reqId} ${reply.status}`) }
  emit(event: { type: string }): void { this.log.push(`emit ${event.type}`) }
  startProcess(e: { allocId: string }): void { this.log.push(`start ${e.allocId}`) }
  killProcess(e: { allocId: string }): void { this.log.push(`kill ${e.allocId}`) }
  removeRun(allocId: string): void { this.log.push(`remove ${allocId}`) }

  /** Run what was queued with soon(), in order, until nothing is left (bounded). */
  drain(): void {
    for (let i = 0; i < 100 && this.later.length > 0; i++) (this.later.shift() as () => void)()
  }
}

function setup(slackMs = 0): { ports: RecordingPorts; interp: EffectInterpreter<string> } {
  const ports = new RecordingPorts()
  const interp = new EffectInterpreter(SELF, ports, slackMs)
  ports.interp = interp
  return { ports, interp }
}

const send = (corr: number, to = 'node-b'): Effect => ({ kind: 'send', to, corr, msg: { type: 'capacity' }, timeoutMs: 500 })
const persist = (key: string): Effect => ({ kind: 'persist', key, value: { key } })

describe('the persist barrier', () => {
  it('holds sends, replies and API replies after a write until it is durable; the rest goes at once', () => {
    const { ports, interp } = setup()
    const inbound = interp.received('node-c')
    interp.apply([
      send(1),
      persist('job/a'),
      send(2),
      { kind: 'publish', msg: { type: 'records', records: [] } },
      { kind: 'reply', reqId: inbound, msg: OK },
      { kind: 'start-process', allocId: 'a.0.1', jobId: 'a', index: 0, attempt: 1, spec: { name: 'a', command: ['true'], env: {}, resources: { cpu: 1, memoryMb: 1 }, count: 1, type: 'batch', constraints: [], restart: { attempts: 0, backoffMs: 0 }, timeoutMs: 0 } },
      persist('job/b'),
      { kind: 'api-reply', reqId: 7, reply: { status: 201, body: {} } },
      { kind: 'emit', event: { type: 'job', job: 'a', name: 'a', state: 'pending' } },
    ])
    expect(ports.log).toEqual([
      'guard node-b corr 1 500 ms', 'transmit capacity to node-b corr 1 timeout 500',
      'persist job/a', 'publish records', 'start a.0.1', 'persist job/b',
    ])
    ports.log.length = 0
    // The first write releases what came between it and the second; the second, the rest.
    interp.persisted(ports.writes[0] as number)
    expect(ports.log).toEqual(['guard node-b corr 2 500 ms', 'transmit capacity to node-b corr 2 timeout 500', 'reply ok to node-c'])
    ports.log.length = 0
    interp.persisted(ports.writes[1] as number)
    expect(ports.log).toEqual(['api-reply 7 201', 'emit job'])
    expect(interp.pending.held).toBe(0)
  })

  it('events wait for every write up to their batch\'s last, wherever they stand in it, and for earlier batches\' writes', () => {
    const { ports, interp } = setup()
    const event: Effect = { kind: 'emit', event: { type: 'job', job: 'a', name: 'a', state: 'succeeded' } }
    const digest: Effect = { kind: 'publish', msg: { type: 'activity', node: SELF, free: { cpu: 1, memoryMb: 1 }, allocations: 0, events: [], at: 1 } }
    // An event before its step's write.
    interp.apply([event, persist('job/a')])
    expect(ports.log).toEqual(['persist job/a'])
    // A later batch without writes: its digest and events wait for that write too; other gossip does not.
    interp.apply([digest, { kind: 'publish', msg: { type: 'records', records: [] } }, event])
    expect(ports.log).toEqual(['persist job/a', 'publish records'])
    interp.persisted(ports.writes[0] as number)
    expect(ports.log).toEqual(['persist job/a', 'publish records', 'emit job', 'publish activity', 'emit job'])
    expect(interp.pending.held).toBe(0)
    // With the writes durable, events go at once.
    interp.apply([event])
    expect(ports.log.at(-1)).toBe('emit job')
  })

  it('a later batch does not wait for an earlier batch\'s write; a failed write holds only what came after it', () => {
    const { ports, interp } = setup()
    interp.apply([persist('job/a'), send(1)])
    interp.apply([send(2)])
    interp.apply([persist('job/b'), send(3)])
    // Write 1 failed (never reported); write 2 completes.
    interp.persisted(ports.writes[1] as number)
    expect(ports.log.filter((l) => l.startsWith('transmit')).map((l) => l.split(' ')[5])).toEqual(['2', '3'])
    expect(interp.pending.held).toBe(1)
    // A second report of a write, or one of a write that never was, does nothing.
    interp.persisted(ports.writes[1] as number)
    interp.persisted(99)
    expect(interp.pending.held).toBe(1)
  })

  it('an answer marked afterAllWrites waits for every earlier write, also one of an earlier batch; a plain one does not', () => {
    const { ports, interp } = setup()
    const inbound = interp.received('node-c')
    const plain = interp.received('node-d')
    // A step sends a copy of a job ahead of its own write of it (job-submit.ts): the send goes at once.
    interp.apply([send(1), persist('job/a')])
    expect(ports.log).toEqual(['guard node-b corr 1 500 ms', 'transmit capacity to node-b corr 1 timeout 500', 'persist job/a'])
    ports.log.length = 0
    // The copy is acknowledged before our own write is done: the answer the acks lead to waits for it.
    interp.apply([
      { kind: 'reply', reqId: inbound, msg: OK, afterAllWrites: true },
      { kind: 'api-reply', reqId: 7, reply: { status: 201, body: {} }, afterAllWrites: true },
      { kind: 'reply', reqId: plain, msg: OK },
      send(2),
    ])
    expect(ports.log).toEqual(['reply ok to node-d', 'guard node-b corr 2 500 ms', 'transmit capacity to node-b corr 2 timeout 500'])
    ports.log.length = 0
    interp.persisted(ports.writes[0] as number)
    expect(ports.log).toEqual(['reply ok to node-c', 'api-reply 7 201'])
    expect(interp.pending.held).toBe(0)
    // With every write durable, it goes at once.
    interp.apply([{ kind: 'api-reply', reqId: 8, reply: { status: 200, body: null }, afterAllWrites: true }])
    expect(ports.log.at(-1)).toBe('api-reply 8 200')
  })

  it('an answer held behind earlier batches\' writes goes once the newest of them is durable', () => {
    const { ports, interp } = setup()
    interp.apply([persist('job/a')])
    interp.apply([persist('job/b')])
    interp.apply([{ kind: 'api-reply', reqId: 1, reply: { status: 201, body: {} }, afterAllWrites: true }])
    interp.persisted(ports.writes[0] as number)
    expect(ports.log.filter((l) => l.startsWith('api-reply'))).toEqual([])
    interp.persisted(ports.writes[1] as number)
    expect(ports.log.filter((l) => l.startsWith('api-reply'))).toEqual(['api-reply 1 201'])
  })

  it('with writes durable at once, nothing is held', () => {
    const { ports, interp } = setup()
    ports.instant = true
    interp.apply([persist('job/a'), send(1), { kind: 'api-reply', reqId: 1, reply: { status: 200, body: null } }, { kind: 'unpersist', key: 'job/z' }])
    expect(ports.log).toEqual(['persist job/a', 'guard node-b corr 1 500 ms', 'transmit capacity to node-b corr 1 timeout 500', 'api-reply 1 200', 'unpersist job/z'])
    expect(interp.pending).toEqual({ sends: 1, requests: 0, held: 0 })
  })
})

describe('one outcome per send, one reply per request', () => {
  it('the first outcome of a send reaches the core; the others do not', () => {
    const { ports, interp } = setup(1_000)
    interp.apply([send(1), send(2)])
    expect(ports.log.filter((l) => l.startsWith('guard'))).toEqual(['guard node-b corr 1 1500 ms', 'guard node-b corr 2 1500 ms'])
    interp.answered('node-b', 1, OK)
    interp.failed('node-b', 1, 'timeout')
    interp.answered('node-b', 1, OK)
    interp.failed('node-b', 2, 'refused')
    interp.answered('node-b', 2, OK)
    // An answer to nothing we sent.
    interp.answered('node-b', 3, OK)
    expect(ports.stepped).toEqual([
      { kind: 'rpc-response', from: 'node-b', corr: 1, msg: OK },
      { kind: 'rpc-failed', to: 'node-b', corr: 2, reason: 'refused' },
    ])
    expect(interp.owes(1) || interp.owes(2)).toBe(false)
  })

  it('an inbound request gets the first reply only, whoever gives it', () => {
    const { ports, interp } = setup()
    const a = interp.received('node-a')
    const b = interp.received('node-c')
    expect(a).not.toBe(b)
    interp.apply([{ kind: 'reply', reqId: a, msg: OK }])
    // The driver's time limit fires after the core replied: dropped.
    interp.reply(a, { type: 'error', code: 'timeout', message: 'no reply in time' })
    interp.replyAll({ type: 'error', code: 'stopping', message: 'node is stopping' })
    interp.apply([{ kind: 'reply', reqId: b, msg: OK }, { kind: 'reply', reqId: 42, msg: OK }])
    expect(ports.log).toEqual(['reply ok to node-a', 'reply error to node-c'])
    expect(interp.pending.requests).toBe(0)
  })
})

describe('a request to oneself', () => {
  it('comes back to the core in memory after the step, as does its reply', () => {
    const { ports, interp } = setup()
    interp.apply([send(5, SELF)])
    // Guarded like any send, never transmitted, and not fed back inside the step that sent it.
    expect(ports.log).toEqual(['guard node-self corr 5 500 ms'])
    expect(ports.stepped).toEqual([])
    ports.drain()
    expect(ports.stepped).toEqual([{ kind: 'rpc-request', from: SELF, reqId: 1, msg: { type: 'capacity' } }])
    interp.apply([{ kind: 'reply', reqId: 1, msg: OK }])
    expect(ports.stepped).toHaveLength(1)
    ports.drain()
    expect(ports.stepped[1]).toEqual({ kind: 'rpc-response', from: SELF, corr: 5, msg: OK })
    // The guard firing afterwards finds the send settled.
    interp.failed(SELF, 5, 'timeout')
    expect(ports.stepped).toHaveLength(2)
    expect(interp.pending).toEqual({ sends: 0, requests: 0, held: 0 })
  })
})
