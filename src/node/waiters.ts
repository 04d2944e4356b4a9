// Callers waiting for the core's answer to a request they handed it (an inbound rpc, an API
// request), by request id: each is settled exactly once, by the answer, by its time limit, or
// when the node stops.

export class Waiters<T> {
  private readonly waiting = new Map<number, { resolve: (value: T) => void; timer: NodeJS.Timeout }>()

  /** Wait for `settle(id, ...)`; after `limitMs` resolve with `onTimeout` instead. */
  wait(id: number, limitMs: number, onTimeout: T): Promise<T> {
    return new Promise<T>((resolve) => {
      // Cleared when the answer comes: a busy node answers thousands of requests a second, and
      // each limit left armed would stay in the timer list (and the heap) for its whole length.
      const timer = setTimeout(() => this.settle(id, onTimeout), limitMs).unref()
      this.waiting.set(id, { resolve, timer })
    })
  }

  /** Answer one waiter; a second answer for the same id (or one after its timeout) is ignored. */
  settle(id: number, value: T): void {
    const waiter = this.waiting.get(id)
    if (waiter === undefined) return
    this.waiting.delete(id)
    clearTimeout(waiter.timer)
    waiter.resolve(value)
  }

  settleAll(value: T): void {
    for (const id of [...this.waiting.keys()]) this.settle(id, value)
  }
}
