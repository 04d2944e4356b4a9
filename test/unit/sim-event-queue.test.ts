// The simulator's agenda: events come out by (time, insertion order), whether they were pushed
// into the heap or into a fixed-delay lane (pushAfter).
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { EventQueue } from '../../src/sim/event-queue.js'

type Op = { kind: 'push'; after: number } | { kind: 'lane'; delay: number } | { kind: 'pop' } | { kind: 'popUntil'; within: number }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('push' as const), after: fc.integer({ min: 0, max: 50 }) }),
  // Few distinct delays (lanes), some repeated often, and zero (same-time events).
  fc.record({ kind: fc.constant('lane' as const), delay: fc.constantFrom(0, 1, 5, 5, 5, 20, 20, 37) }),
  fc.record({ kind: fc.constant('pop' as const) }),
  fc.record({ kind: fc.constant('popUntil' as const), within: fc.integer({ min: 0, max: 30 }) }),
)

describe('EventQueue', () => {
  it('pops by time, then by insertion order, across the heap and the lanes', () => {
    fc.assert(fc.property(fc.array(opArb, { maxLength: 300 }), (ops) => {
      const q = new EventQueue()
      // The reference: every live event with its time and insertion number.
      let pending: Array<{ at: number; seq: number }> = []
      let now = 0
      let seq = 0
      const popOne = (): void => {
        const e = q.pop()
        const want = pending.reduce<{ at: number; seq: number } | undefined>((m, x) => (m === undefined || x.at < m.at || (x.at === m.at && x.seq < m.seq) ? x : m), undefined)
        if (want === undefined) { expect(e).toBeUndefined(); return }
        expect(e?.at).toBe(want.at)
        e?.run()
        expect(lastRun).toBe(want.seq)
        pending = pending.filter((x) => x !== want)
        now = want.at
      }
      let lastRun = -1
      for (const op of ops) {
        if (op.kind === 'pop') { popOne(); continue }
        if (op.kind === 'popUntil') {
          // Nothing due by the bound: nothing comes out (and nothing is lost).
          const due = pending.some((x) => x.at <= now + op.within)
          if (due) popOne()
          else expect(q.popUntil(now + op.within)).toBeUndefined()
          continue
        }
        const id = seq++
        const at = op.kind === 'push' ? now + op.after : now + op.delay
        if (op.kind === 'push') q.push(at, () => { lastRun = id })
        else q.pushAfter(now, op.delay, () => { lastRun = id })
        pending.push({ at, seq: id })
        expect(q.peekTime()).toBe(Math.min(...pending.map((x) => x.at)))
        expect(q.size).toBe(pending.length)
      }
      while (pending.length > 0) popOne()
      expect(q.pop()).toBeUndefined()
      expect(q.size).toBe(0)
    }), { numRuns: 300 })
  })

  it('keeps the order when the heap grows past its first arrays', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 1500, maxLength: 3000 }), (times) => {
      const q = new EventQueue()
      const ran: number[] = []
      times.forEach((t, i) => q.push(t, () => { ran.push(i) }))
      for (let e = q.pop(); e !== undefined; e = q.pop()) e.run()
      const want = times.map((t, i) => ({ t, i })).sort((a, b) => a.t - b.t || a.i - b.i).map((x) => x.i)
      expect(ran).toEqual(want)
    }), { numRuns: 20 })
  })
})
