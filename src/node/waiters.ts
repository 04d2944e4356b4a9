// Callers waiting for the core's answer to a request they handed it (an inbound rpc, an API
// request), by request id: each is settled exactly once, by the answer, by its time limit, or
// when the node stops.

export class Waiters<T> {
  private readonly waiting = new Map<number, (value: T) => void>()

  /** Wait for `settle(id, ...)`; after `limitMs` resolve with `onTimeout` instead. */
  wait(id: number, limitMs: number, onTimeout: T): Promise<T> {
    return new Promise<T>((resolve) => {
      this.waiting.set(id, resolve)
      setTimeout(() => this.settle(id, onTimeout), limitMs).unref()
    })
  }

  /** Answer one waiter; a second answer for the same id (or one after its timeout) is ignored. */
  settle(id: number, value: T): void {
    const resolve = this.waiting.get(id)
    if (resolve === undefined) return
    this.waiting.delete(id)
    resolve(value)
  }

  settleAll(value: T): void {
    for (const id of [...this.waiting.keys()]) this.settle(id, value)
  }
}
