// The simulator's agenda: a binary min-heap of callbacks ordered by (time, insertion order), so
// two events at the same simulated time always run in the order they were scheduled. A sorted
// array with splice (the first harness) cost O(n) per insert; at 1,000 nodes the agenda holds
// ~10^5 entries and that dominated the run. The heap keeps times and insertion numbers in typed
// arrays beside the callbacks: sifting compares contiguous numbers instead of chasing one entry
// object per event (and allocating it), which was a tenth of a 10,000-node run.
import type { Millis } from '../core/types.js'

/** Events pushed in time order (a FIFO), consumed from `head`. */
interface Lane {
  ats: number[]
  orders: number[]
  runs: Array<() => void>
  head: number
}

/** Most lanes kept; pushes for further delays go to the heap. */
const MAX_LANES = 32

export class EventQueue {
  private ats = new Float64Array(1024)
  private orders = new Float64Array(1024)
  private runs: Array<(() => void) | undefined> = []
  private n = 0
  private order = 0
  /** The time of the event popRun last returned. */
  poppedAt: Millis = 0
  /**
   * Events scheduled a fixed delay after now (request timeouts: one per request, most never fire)
   * arrive in time order per delay, so each delay gets a FIFO instead of the heap: at 10,000 nodes
   * they were most of the agenda, and every heap operation paid log(size) cache misses for them.
   * Order is still (time, insertion order) overall.
   */
  private readonly lanes = new Map<number, Lane>()
  private laneList: Lane[] = []

  get size(): number {
    let n = this.n
    for (const l of this.laneList) n += l.runs.length - l.head
    return n
  }

  /** Time of the next event, or undefined when there is none. */
  peekTime(): Millis | undefined {
    let at = this.n > 0 ? this.ats[0] : undefined
    for (const l of this.laneList) {
      const t = l.ats[l.head]
      if (t !== undefined && (at === undefined || t < at)) at = t
    }
    return at
  }

  /** `run` at now + delay; `now` never goes back, so per delay the times only grow. */
  pushAfter(now: Millis, delay: number, run: () => void): void {
    let lane = this.lanes.get(delay)
    // Lanes for the configured timeouts (whole ms); a one-off delay (what is left of a probe round) goes to the heap.
    if (lane === undefined && this.lanes.size < MAX_LANES && Number.isInteger(delay)) {
      lane = { ats: [], orders: [], runs: [], head: 0 }
      this.lanes.set(delay, lane)
      this.laneList = [...this.lanes.values()]
    }
    const at = now + delay
    if (lane === undefined || (lane.runs.length > 0 && (lane.ats[lane.ats.length - 1] as number) > at)) { this.push(at, run); return }
    lane.ats.push(at)
    lane.orders.push(this.order++)
    lane.runs.push(run)
  }

  push(at: Millis, run: () => void): void {
    const order = this.order++
    if (this.n === this.ats.length) this.grow()
    const ats = this.ats
    const orders = this.orders
    const runs = this.runs
    let i = this.n++
    while (i > 0) {
      const parent = (i - 1) >> 1
      const pa = ats[parent] as number
      if (pa < at || (pa === at && (orders[parent] as number) < order)) break
      ats[i] = pa
      orders[i] = orders[parent] as number
      runs[i] = runs[parent]
      i = parent
    }
    ats[i] = at
    orders[i] = order
    runs[i] = run
  }

  /** Removes and returns the next event. */
  pop(): { at: Millis; run: () => void } | undefined {
    const run = this.popRun(Infinity)
    return run === undefined ? undefined : { at: this.poppedAt, run }
  }

  /** Removes and returns the next event if it is due at or before `until`. */
  popUntil(until: Millis): { at: Millis; run: () => void } | undefined {
    const run = this.popRun(until)
    return run === undefined ? undefined : { at: this.poppedAt, run }
  }

  /**
   * Removes the next event if it is due at or before `until` and returns its callback (its time
   * in `poppedAt`); undefined when none is due. No object per event.
   */
  popRun(until: Millis): (() => void) | undefined {
    let best: Lane | undefined
    let any = this.n > 0
    let at = this.n > 0 ? (this.ats[0] as number) : Infinity
    let order = this.n > 0 ? (this.orders[0] as number) : Infinity
    const lanes = this.laneList
    for (let k = 0; k < lanes.length; k++) {
      const l = lanes[k] as Lane
      if (l.head >= l.runs.length) continue
      const t = l.ats[l.head] as number
      if (!any || t < at || (t === at && (l.orders[l.head] as number) < order)) { at = t; order = l.orders[l.head] as number; best = l; any = true }
    }
    if (!any || at > until) return undefined
    this.poppedAt = at
    if (best === undefined) return this.popHeap()
    const run = best.runs[best.head] as () => void
    best.head++
    if (best.head === best.runs.length) {
      best.ats = []; best.orders = []; best.runs = []; best.head = 0
    } else if (best.head >= 4096 && best.head * 2 >= best.runs.length) {
      best.ats = best.ats.slice(best.head)
      best.orders = best.orders.slice(best.head)
      best.runs = best.runs.slice(best.head)
      best.head = 0
    }
    return run
  }

  private popHeap(): () => void {
    const ats = this.ats
    const orders = this.orders
    const runs = this.runs
    const top = runs[0] as () => void
    const n = --this.n
    if (n > 0) {
      const at = ats[n] as number
      const order = orders[n] as number
      const run = runs[n]
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        if (l >= n) break
        const r = l + 1
        let c = l
        if (r < n) {
          const ar = ats[r] as number
          const al = ats[l] as number
          if (ar < al || (ar === al && (orders[r] as number) < (orders[l] as number))) c = r
        }
        const ac = ats[c] as number
        if (at < ac || (at === ac && order < (orders[c] as number))) break
        ats[i] = ac
        orders[i] = orders[c] as number
        runs[i] = runs[c]
        i = c
      }
      ats[i] = at
      orders[i] = order
      runs[i] = run
    }
    runs[n] = undefined
    return top
  }

  private grow(): void {
    const ats = new Float64Array(this.ats.length * 2)
    ats.set(this.ats)
    this.ats = ats
    const orders = new Float64Array(this.orders.length * 2)
    orders.set(this.orders)
    this.orders = orders
  }
}
