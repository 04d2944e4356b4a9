// The arbiter's two guards against answers that do not settle a placement (src/core/arbiter.ts):
// an offer whose answer never comes is dropped after 2 x offerTimeoutMs and offered again, and a
// claim whose node keeps refusing the start is closed after claimRefusedLimitMs and placed again.
//
// SimCluster's hooks only observe, and a lost answer needs a say over single messages, so this
// file drives one real NodeCore itself: a node alone is its jobs' arbiter, storing node and the
// candidate its offers and starts go to. The bench below plays the shell (ticks, rpc with its
// timeout, processes) on a deterministic event queue, and decides the fate of every request it carries.
import { describe, expect, it } from 'vitest'
import { TEST } from '../../src/core/config.js'
import { allocationId } from '../../src/core/job-status.js'
import type { JobSpec } from '../../src/core/job-types.js'
import { JOBS_DEFAULTS, type JobsConfig } from '../../src/core/jobs-config.js'
import { NodeCore } from '../../src/core/node-core.js'
import type { CoreEvent, Effect, Millis, Resources, RpcRequest, RpcResponse } from '../../src/core/types.js'
import { EventQueue } from '../../src/sim/event-queue.js'
import { simSpec } from '../../src/sim/sim-cluster.js'

const T0 = 1_700_000_000_000
const SELF = 'node-1'

/**
 * What happens to a request. `answer`: it is handled and answered. `lose`: it is lost on the
 * wire, and the shell reports rpc-failed at its timeout (what a real send does). `vanish`: it is
 * handled (the node may reserve), but neither its answer nor a failure ever comes back: the
 * shell bug that offerInFlight guards against.
 */
type Fate = 'answer' | 'lose' | 'vanish'

interface Sent {
  at: Millis
  corr: number
  msg: RpcRequest
  fate: Fate
  /** When the core handed over its answer, and the answer. */
  repliedAt?: Millis
  reply?: RpcResponse
  /** When the answer (or a failure) reached the asking core. */
  settledAt?: Millis
}

/** One node's shell: ticks every TEST.tickMs, rpc to itself with the send's timeout, simulated processes that run until told to exit. */
class Bench {
  readonly queue = new EventQueue()
  now: Millis = T0
  readonly core: NodeCore
  readonly sent: Sent[] = []
  /** Allocation ids whose process was started, in order. */
  readonly started: string[] = []
  /** The fate of each request (by default: answered). */
  fate: (msg: RpcRequest) => Fate = () => 'answer'
  /** One-way delay of each answer, ms (by default none: the node asks itself). */
  answerDelay: (msg: RpcRequest) => number = () => 0
  private readonly inbound = new Map<number, Sent>()
  private nextReqId = 1
  private nextApiReq = 1

  constructor(jobsConfig: JobsConfig, total: Resources) {
    const { core, effects } = NodeCore.create({
      self: { id: SELF, name: 'n1', addrs: [], api: '', resources: { total, free: total }, labels: {}, draining: false, allocations: 0 },
      lastIncarnation: 0, config: TEST, jobsConfig, seed: 1, now: T0,
    })
    this.core = core
    this.apply(effects)
    this.scheduleTick(T0 + TEST.tickMs)
  }

  submit(id: string, spec: JobSpec): void {
    this.step({ kind: 'api', reqId: this.nextApiReq++, req: { op: 'submit', id, spec } })
  }

  cancel(id: string): void {
    this.step({ kind: 'api', reqId: this.nextApiReq++, req: { op: 'cancel', id } })
  }

  /** The process of a run ends by itself. */
  exit(allocId: string, exitCode: number): void {
    this.step({ kind: 'process-exit', exit: { allocId, exitCode, signal: null, reason: 'exited' } })
  }

  /** Requests of one type, in the order they were sent. */
  requests<T extends RpcRequest['type']>(type: T): Array<Sent & { msg: Extract<RpcRequest, { type: T }> }> {
    return this.sent.filter((s): s is Sent & { msg: Extract<RpcRequest, { type: T }> } => s.msg.type === type)
  }

  /** The starts sent for a job, and the ones its node refused. */
  starts(jobId: string): Array<Sent & { msg: { type: 'start' } }> {
    return this.requests('start').filter((s) => s.msg.job.id === jobId)
  }

  refusals(jobId: string): Sent[] {
    return this.starts(jobId).filter((s) => s.reply?.type === 'reject' && s.settledAt !== undefined)
  }

  /** [attempt, state] of every allocation of a job, as the node's record has them. */
  allocs(jobId: string): Array<[number, string]> {
    return (this.core.jobStatus(jobId)?.allocations ?? []).map((a) => [a.attempt, a.state])
  }

  runUntil(until: Millis): void {
    for (;;) {
      const t = this.queue.peekTime()
      if (t === undefined || t > until) break
      this.runNext()
    }
    this.now = Math.max(this.now, until)
  }

  run(ms: number): void {
    this.runUntil(this.now + ms)
  }

  /** Run until `pred` holds, checking after every event; returns the time it took, or throws. */
  runUntilTrue(pred: () => boolean, maxMs: number): number {
    const start = this.now
    while (!pred()) {
      const t = this.queue.peekTime()
      if (t === undefined || t > start + maxMs) throw new Error(`condition not reached within ${maxMs} ms`)
      this.runNext()
    }
    return this.now - start
  }

  private runNext(): void {
    const next = this.queue.pop()
    if (next === undefined) return
    this.now = next.at
    next.run()
  }

  private scheduleTick(at: Millis): void {
    this.queue.push(at, () => {
      this.step({ kind: 'tick' })
      this.scheduleTick(at + TEST.tickMs)
    })
  }

  private step(ev: CoreEvent): void {
    this.apply(this.core.step(ev, this.now))
  }

  private apply(effects: Effect[]): void {
    for (const e of effects) {
      switch (e.kind) {
        case 'send': this.send(e.to, e.corr, e.msg, e.timeoutMs); break
        case 'reply': this.reply(e.reqId, e.msg); break
        case 'start-process': this.started.push(e.allocId); break
        case 'kill-process': this.queue.push(this.now + 1, () => this.step({ kind: 'process-exit', exit: { allocId: e.allocId, exitCode: null, signal: 'SIGTERM', reason: 'killed' } })); break
        // Alone, the node gossips to nobody; persists and events are not what these tests look at.
        default: break
      }
    }
  }

  private send(to: string, corr: number, msg: RpcRequest, timeoutMs: number): void {
    // Alone, the node has nobody else to talk to; a request elsewhere would mean the test set-up is wrong.
    if (to !== SELF) throw new Error(`unexpected request to ${to}: ${msg.type}`)
    const s: Sent = { at: this.now, corr, msg, fate: this.fate(msg) }
    this.sent.push(s)
    if (s.fate !== 'vanish') {
      // As the runtime does: the timeout is always armed; the core ignores a failure of an answered corr.
      this.queue.push(this.now + timeoutMs, () => {
        s.settledAt ??= this.now
        this.step({ kind: 'rpc-failed', to, corr, reason: 'timeout' })
      })
    }
    if (s.fate === 'lose') return
    // A self-addressed request is answered in memory, on a later turn of the event loop.
    this.queue.push(this.now, () => {
      const reqId = this.nextReqId++
      this.inbound.set(reqId, s)
      this.step({ kind: 'rpc-request', from: SELF, reqId, msg })
    })
  }

  private reply(reqId: number, msg: RpcResponse): void {
    const s = this.inbound.get(reqId)
    if (s === undefined) return
    this.inbound.delete(reqId)
    s.repliedAt = this.now
    s.reply = msg
    if (s.fate === 'vanish') return
    this.queue.push(this.now + this.answerDelay(s.msg), () => {
      if (s.settledAt !== undefined) return
      s.settledAt = this.now
      this.step({ kind: 'rpc-response', from: SELF, corr: s.corr, msg })
    })
  }
}

describe('arbiter: an offer whose answer never comes', () => {
  const config: JobsConfig = { ...JOBS_DEFAULTS, offerTimeoutMs: 200, restartHoldMs: 0, gossipCoalesceMs: 0 }

  it('is dropped after 2 x offerTimeoutMs (offersLost), and the instance is offered again and runs', () => {
    const bench = new Bench(config, { cpu: 4, memoryMb: 4096 })
    // The first offer reaches the node (it reserves), but its accept and any failure vanish.
    bench.fate = (msg) => msg.type === 'offer' && bench.requests('offer').length === 0 ? 'vanish' : 'answer'
    bench.submit('j', simSpec())
    bench.runUntilTrue(() => bench.requests('offer')[0]?.reply !== undefined, 1_000)
    const first = bench.requests('offer')[0]!
    expect(first.fate).toBe('vanish')
    expect(first.reply).toEqual({ type: 'accept' })

    // Up to twice the offer timeout the offer counts as in flight: the instance waits for it.
    bench.runUntil(first.at + 2 * config.offerTimeoutMs)
    expect(bench.requests('offer')).toHaveLength(1)
    expect(bench.core.stats.offersLost).toBe(0)
    expect(bench.core.jobStatus('j')?.state).toBe('pending')
    expect(first.settledAt).toBeUndefined()

    // Then it is dropped, and the instance ranked and offered again: the same attempt, the same node.
    bench.runUntilTrue(() => bench.started.length > 0, 2_000)
    expect(bench.core.stats.offersLost).toBe(1)
    const offers = bench.requests('offer')
    expect(offers).toHaveLength(2)
    const second = offers[1]!
    expect(second.at - first.at).toBeGreaterThan(2 * config.offerTimeoutMs)
    expect(second.at - first.at).toBeLessThanOrEqual(2 * config.offerTimeoutMs + TEST.tickMs)
    expect(second.msg).toMatchObject({ jobId: 'j', index: 0, attempt: 1 })
    expect(second.settledAt).toBe(second.at)

    // One claim, one run; the reservation the lost offer made is the one the run took, not a second one.
    expect(bench.allocs('j')).toEqual([[1, 'running']])
    expect(bench.started).toEqual([allocationId('j', 0, 1)])
    expect(bench.core.stats.placed).toBe(1)
    expect(bench.core.free()).toEqual({ cpu: 3.5, memoryMb: 3968 })
  })
})

describe('arbiter: a start the node keeps refusing', () => {
  // The start is re-sent every 500 ms; a claim refused for 2 s is closed. Reservations expire
  // after 300 ms, so a start that comes later finds the room taken.
  const config: JobsConfig = {
    ...JOBS_DEFAULTS, offerTimeoutMs: 200, storeTimeoutMs: 200, reservationTtlMs: 300, claimResendMs: 500,
    claimRefusedLimitMs: 2_000, rejectBackoffMs: 200, placementRetryMs: 200, restartHoldMs: 0, gossipCoalesceMs: 0,
  }
  // The node fits one of these jobs at a time.
  const total = { cpu: 1, memoryMb: 1024 }
  const spec = simSpec({ resources: { cpu: 1, memoryMb: 512 } })

  /**
   * Job `a` is granted, but its starts are lost until its reservation has expired and job `b`
   * has taken the node's room: from then on the node answers every start of `a` with a reject
   * ("no room any more"), as long as `b` runs.
   */
  function refusedStart(): Bench {
    const bench = new Bench(config, total)
    bench.fate = (msg) => msg.type === 'start' && msg.job.id === 'a' && !bench.started.includes(allocationId('b', 0, 1)) ? 'lose' : 'answer'
    bench.submit('a', spec)
    bench.runUntilTrue(() => bench.starts('a').length === 1, 1_000)
    expect(bench.allocs('a')).toEqual([[1, 'claimed']])
    bench.runUntilTrue(() => bench.core.free().cpu === 1, 1_000)
    bench.submit('b', spec)
    bench.runUntilTrue(() => bench.allocs('b')[0]?.[1] === 'running', 1_000)
    bench.runUntilTrue(() => bench.refusals('a').length === 1, 2 * config.claimResendMs)
    return bench
  }

  it('closes the claim as lost after claimRefusedLimitMs of refusals, not before, and places the instance again', () => {
    const bench = refusedStart()
    const firstRefusal = bench.refusals('a')[0]!
    expect(firstRefusal.reply).toEqual({ type: 'reject', reason: 'no room any more' })
    // One refusal does not close the claim.
    expect(bench.allocs('a')).toEqual([[1, 'claimed']])

    // The start is re-sent every claimResendMs; refusals short of the limit leave the claim open.
    bench.runUntil(firstRefusal.settledAt! + config.claimRefusedLimitMs - 1)
    expect(bench.refusals('a').length).toBeGreaterThanOrEqual(config.claimRefusedLimitMs / config.claimResendMs)
    const gaps = bench.starts('a').slice(1).map((s, i) => s.at - bench.starts('a')[i]!.at)
    expect(gaps.every((g) => g >= config.claimResendMs && g <= config.claimResendMs + TEST.tickMs)).toBe(true)
    expect(bench.allocs('a')).toEqual([[1, 'claimed']])

    // The first refusal at or past the limit closes it: lost, with the node's reason.
    bench.runUntilTrue(() => bench.allocs('a')[0]?.[1] !== 'claimed', config.claimResendMs + TEST.tickMs)
    const closed = bench.core.jobStatus('a')!.allocations[0]!
    expect(closed).toMatchObject({ attempt: 1, state: 'lost' })
    expect(closed.reason).toMatch(/^node n1 refused the start: no room any more$/)
    const closedAt = Date.parse(closed.finishedAt!)
    expect(closedAt - firstRefusal.settledAt!).toBeGreaterThanOrEqual(config.claimRefusedLimitMs)
    expect(bench.refusals('a').at(-1)!.settledAt).toBe(closedAt)
    expect(bench.started).toEqual([allocationId('b', 0, 1)])

    // A refused start is not the job's failure: the instance is placed again, as attempt 2. It
    // waits while b holds the room, and runs once b is done.
    bench.runUntilTrue(() => (bench.core.jobStatus('a')?.pendingReason ?? '') !== '', 2_000)
    expect(bench.allocs('a')).toEqual([[1, 'lost']])
    bench.exit(allocationId('b', 0, 1), 0)
    bench.runUntilTrue(() => bench.allocs('a')[1]?.[1] === 'running', 2_000)
    expect(bench.allocs('a')).toEqual([[1, 'lost'], [2, 'running']])
    expect(bench.requests('offer').filter((s) => s.msg.jobId === 'a').map((s) => s.msg.attempt)).toContain(2)
    expect(bench.started).toEqual([allocationId('b', 0, 1), allocationId('a', 0, 2)])
  })

  it('closes it as cancelled, not lost, when the job was cancelled while the refusal past the limit was on its way back', () => {
    const bench = refusedStart()
    const firstRefusal = bench.refusals('a')[0]!
    // Answers to a's starts take 10 ms back: room to cancel between the node's refusal and its arrival.
    bench.answerDelay = (msg) => msg.type === 'start' ? 10 : 0
    const closing = (): Sent | undefined => bench.starts('a').find((s) => s.at - firstRefusal.settledAt! >= config.claimRefusedLimitMs && s.repliedAt !== undefined)
    bench.runUntilTrue(() => closing() !== undefined, config.claimRefusedLimitMs + config.claimResendMs + TEST.tickMs)
    const last = closing()!
    expect(last.reply?.type).toBe('reject')
    expect(last.settledAt).toBeUndefined()
    expect(bench.allocs('a')).toEqual([[1, 'claimed']])

    bench.cancel('a')
    // Had the job not been cancelled, this refusal would close the claim as lost. Cancelled, the
    // claim did not fail to start: it was stopped, whether the refusal or the arbiter's pass over
    // the cancelled job closes it first.
    bench.runUntilTrue(() => last.settledAt !== undefined, 100)
    const closed = bench.core.jobStatus('a')!.allocations[0]!
    expect(closed).toMatchObject({ attempt: 1, state: 'cancelled', reason: 'job cancelled before it started' })
    expect(bench.core.jobStatus('a')?.state).toBe('cancelled')

    // A cancelled job is not placed again.
    bench.run(2_000)
    expect(bench.allocs('a')).toEqual([[1, 'cancelled']])
    expect(bench.requests('offer').filter((s) => s.msg.jobId === 'a').map((s) => s.msg.attempt)).toEqual([1])
    expect(bench.started).toEqual([allocationId('b', 0, 1)])
  })
})
