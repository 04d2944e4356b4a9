// The memory limit where cgroups are not available: one poller for all allocations reads /proc
// once per round, sums RSS per process group and reports groups over their limit.
//
// This is a soft limit, and a conservative one: between two rounds a process can allocate past
// its limit (the kernel OOM killer is the only hard stop here), and summing RSS counts pages that
// forked processes share once per process, so a group can be killed a little early. PSS would be
// exact but costs a read of smaps_rollup per process per round.
import { pageSize, scanProcesses } from './proc.js'

/**
 * Overshoot happens near the limit, so while any group holds more than 3/4 of its limit the next
 * round comes 5x sooner (50 ms at the default 250 ms); few groups sit that close at once. Measured
 * here with node allocating as fast as it can against a 200 MB limit: 80-125 MB of overshoot at a
 * fixed 250 ms, 20-75 MB with this.
 */
const NEAR_LIMIT_FRACTION = 0.75
const NEAR_LIMIT_SPEEDUP = 5

export interface RssOver {
  pgid: number
  rssBytes: number
  limitBytes: number
}

export class RssWatcher {
  private readonly limits = new Map<number, number>()
  private timer: NodeJS.Timeout | undefined
  private nearLimit = false

  constructor(
    private readonly intervalMs: number,
    private readonly onOver: (over: RssOver) => void,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Starts watching a process group (pgid = leader pid) against a limit in bytes. */
  watch(pgid: number, limitBytes: number): void {
    this.limits.set(pgid, limitBytes)
    this.schedule()
  }

  unwatch(pgid: number): void {
    this.limits.delete(pgid)
    if (this.limits.size === 0 && this.timer) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
  }

  stop(): void {
    this.limits.clear()
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
  }

  private schedule(): void {
    if (this.timer || this.limits.size === 0) return
    const delay = this.nearLimit ? Math.max(1, Math.round(this.intervalMs / NEAR_LIMIT_SPEEDUP)) : this.intervalMs
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.round()
    }, delay)
    // The children themselves keep the agent alive; a pending poll must not.
    this.timer.unref()
  }

  /** One round; the next is scheduled after it, so rounds never pile up. */
  private round(): void {
    try {
      const rss = new Map<number, number>()
      for (const stat of scanProcesses()) {
        if (this.limits.has(stat.pgrp)) rss.set(stat.pgrp, (rss.get(stat.pgrp) ?? 0) + stat.rssPages)
      }
      const page = pageSize()
      this.nearLimit = false
      for (const [pgid, pages] of rss) {
        const limitBytes = this.limits.get(pgid)
        if (limitBytes === undefined) continue
        if (pages * page > limitBytes) this.onOver({ pgid, rssBytes: pages * page, limitBytes })
        else if (pages * page > limitBytes * NEAR_LIMIT_FRACTION) this.nearLimit = true
      }
    } catch (err) {
      this.onError(err)
    } finally {
      this.schedule()
    }
  }
}
