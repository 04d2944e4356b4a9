// Which waiting instances freed room is worth waking. When room frees on a node (a run ended
// there, or it said it has more), the arbiter used to decide every waiting job again at once: in
// a full cell with W jobs waiting, each end cost W placement passes, nearly all of them finding
// no room again (one agent with 20 slots and ~500 jobs waiting: ~1.6 MB of garbage per job run,
// 14x the allocation of the same jobs without a queue, and a heap that grew to match). Here the
// room our views show is handed out in the order the instances began waiting, and only those
// that fit somewhere are woken; the others keep their timed retry (Arbiter.place).
import { admits, satisfies, type Constraint, type NodeView, type Resources } from '../placement/index.js'

/** Room left on one node in this round, after what earlier waiting instances were given. */
interface Open {
  view: NodeView
  free: Resources
}

/**
 * The free room of the given views, on the nodes placement could use at all (alive, not
 * draining), taken instance by instance. A superset test: placement still ranks, and may find
 * no room after all (a node the job must avoid); waking one too many only costs its pass, while
 * waking one too few would leave room unused until its timed retry.
 */
export class WakeRoom {
  private readonly open: Open[] = []

  constructor(views: readonly NodeView[]) {
    for (const view of views) {
      if (view.state !== 'alive' || view.draining || view.free.cpu <= 0 || view.free.memoryMb <= 0) continue
      this.open.push({ view, free: { cpu: view.free.cpu, memoryMb: view.free.memoryMb } })
    }
  }

  /** No node has any room left: no waiting instance can be placed now. */
  empty(): boolean {
    return this.open.length === 0
  }

  /**
   * Takes room for one instance on the first node that fits it (resources and constraints).
   * False when none does: that instance waits for its timed retry or the next freed room.
   */
  take(need: Resources, constraints: readonly Constraint[]): boolean {
    for (let i = 0; i < this.open.length; i++) {
      const node = this.open[i] as Open
      if (!admits(node.free, need) || !constraints.every((c) => satisfies(c, node.view.labels))) continue
      node.free.cpu -= need.cpu
      node.free.memoryMb -= need.memoryMb
      if (node.free.cpu <= 0 || node.free.memoryMb <= 0) this.open.splice(i, 1)
      return true
    }
    return false
  }
}
