import { afterEach, describe, expect, it, vi } from 'vitest'
import { Waiters } from '../../src/node/waiters.js'

describe('Waiters', () => {
  afterEach(() => { vi.useRealTimers() })

  it('resolves with the answer, once, and leaves no timer armed', async () => {
    vi.useFakeTimers()
    const w = new Waiters<string>()
    const p = w.wait(1, 10_000, 'timeout')
    expect(vi.getTimerCount()).toBe(1)
    w.settle(1, 'answer')
    w.settle(1, 'second')
    expect(vi.getTimerCount()).toBe(0)
    await expect(p).resolves.toBe('answer')
  })

  it('resolves with the timeout value when no answer comes in time; a late answer is ignored', async () => {
    vi.useFakeTimers()
    const w = new Waiters<string>()
    const p = w.wait(7, 500, 'timeout')
    vi.advanceTimersByTime(500)
    w.settle(7, 'late')
    await expect(p).resolves.toBe('timeout')
  })

  it('settleAll answers every waiter and clears their timers', async () => {
    vi.useFakeTimers()
    const w = new Waiters<string>()
    const ps = [w.wait(1, 1_000, 't'), w.wait(2, 1_000, 't')]
    w.settleAll('stopping')
    expect(vi.getTimerCount()).toBe(0)
    await expect(Promise.all(ps)).resolves.toEqual(['stopping', 'stopping'])
  })
})
