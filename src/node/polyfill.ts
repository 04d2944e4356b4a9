// libp2p 3 and its muxer call Promise.withResolvers, which Node 20 lacks (it arrived in Node 22).
// It sits on core stream paths, so it must be installed before any libp2p module loads:
// every entry point imports this file first.
if (typeof (Promise as unknown as { withResolvers?: unknown }).withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers<T>() {
      let resolve!: (value: T | PromiseLike<T>) => void
      let reject!: (reason?: unknown) => void
      const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej })
      return { promise, resolve, reject }
    },
  })
}
export {}
