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

/** Entries pushed in time order (a FIFO), consumed from `head`. */
interface Lane {
  items: Entry[]
  head: number
}

/** Most lanes kept; pushes for further delays go to the heap. */
const MAX_LANES = 32

export class EventQueue {
  private readonly heap: Entry[] = []
  private order = 0
  /**
   * Events scheduled a fixed delay after now (request timeouts: one per request, most never fire)
   * arrive in time order per delay, so each delay gets a FIFO instead of the heap: at 10,000 nodes
   * they were most of the agenda, and every heap operation paid log(size) cache misses for them.
   * Order is still (time, insertion order) overall.
   */
  private readonly lanes = new Map<number, Lane>()
  private laneList: Lane[] = []

  get size(): number {
    let n = this.heap.length
    for (const l of this.laneList) n += l.items.length - l.head
    return n
  }

  /** Time of the next event, or undefined when there is none. */
  peekTime(): Millis | undefined {
    let at = this.heap[0]?.at
    for (const l of this.laneList) {
      const e = l.items[l.head]
      if (e !== undefined && (at === undefined || e.at < at)) at = e.at
    }
    return at
  }

  /** `run` at now + delay; `now` never goes back, so per delay the times only grow. */
  pushAfter(now: Millis, delay: number, run: () => void): void {
    let lane = this.lanes.get(delay)
    // Lanes for the configured timeouts (whole ms); a one-off delay (what is left of a probe round) goes to the heap.
    if (lane === undefined && this.lanes.size < MAX_LANES && Number.isInteger(delay)) {
      lane = { items: [], head: 0 }
      this.lanes.set(delay, lane)
      this.laneList = [...this.lanes.values()]
    }
    const at = now + delay
    const last = lane?.items[lane.items.length - 1]
    if (lane === undefined || (last !== undefined && last.at > at)) { this.push(at, run); return }
    lane.items.push({ at, order: this.order++, run })
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
    return this.popUntil(Infinity)
  }

  /** Removes and returns the next event if it is due at or before `until`. */
  popUntil(until: Millis): { at: Millis; run: () => void } | undefined {
    let best: Lane | undefined
    let first = this.heap[0]
    for (const l of this.laneList) {
      const e = l.items[l.head]
      if (e !== undefined && (first === undefined || before(e, first))) { first = e; best = l }
    }
    if (first === undefined || first.at > until) return undefined
    if (best === undefined) return this.popHeap()
    best.head++
    if (best.head === best.items.length) { best.items = []; best.head = 0 } else if (best.head >= 4096 && best.head * 2 >= best.items.length) {
      best.items = best.items.slice(best.head)
      best.head = 0
    }
    return first
  }

  private popHeap(): { at: Millis; run: () => void } | undefined {
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
