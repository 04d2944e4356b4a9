// The simulator's agenda: a binary min-heap of callbacks ordered by (time, insertion order), so
// two events at the same simulated time always run in the order they were scheduled. A sorted
// array with splice (the first harness) cost O(n) per insert; at 1,000 nodes the agenda holds
// ~10^5 entries and that dominated the run.
import type { Millis } from '../core/types.js'

interface Entry {
  at: Millis
  order: number
  run: () => void
}

export class EventQueue {
  private readonly heap: Entry[] = []
  private order = 0

  get size(): number {
    return this.heap.length
  }

  /** Time of the next event, or undefined when there is none. */
  peekTime(): Millis | undefined {
    return this.heap[0]?.at
  }

  push(at: Millis, run: () => void): void {
    const e: Entry = { at, order: this.order++, run }
    const h = this.heap
    let i = h.length
    h.push(e)
    while (i > 0) {
      const parent = (i - 1) >> 1
      const p = h[parent] as Entry
      if (!before(e, p)) break
      h[i] = p
      i = parent
    }
    h[i] = e
  }

  /** Removes and returns the next event. */
  pop(): { at: Millis; run: () => void } | undefined {
    const h = this.heap
    const top = h[0]
    if (top === undefined) return undefined
    const last = h.pop() as Entry
    if (h.length > 0) {
      let i = 0
      const n = h.length
      for (;;) {
        const l = 2 * i + 1
        if (l >= n) break
        const r = l + 1
        const c = r < n && before(h[r] as Entry, h[l] as Entry) ? r : l
        if (!before(h[c] as Entry, last)) break
        h[i] = h[c] as Entry
        i = c
      }
      h[i] = last
    }
    return top
  }
}

function before(a: Entry, b: Entry): boolean {
  return a.at < b.at || (a.at === b.at && a.order < b.order)
}
