// An operator's drain of a node: no claim is started there, its service runs move (the arbiter
// places a replacement first), and what still runs at the deadline is stopped and placed again.
// The flag is persisted, so a restart goes on draining. Asked of any node: the node drained is
// this one, or another told over a direct request.
import { live, type MemberView, type Pending } from './job-book.js'
import type { JobsConfig } from './jobs-config.js'
import type { Effect, Millis, NodeId, RpcRequest } from './types.js'

/** Where a node keeps its drain (null when not draining): it survives a restart. */
export const DRAIN_KEY = 'self/drain'

export class DrainControl {
  /** While this node drains: when its remaining runs are stopped and placed elsewhere. */
  private deadline: Millis | null = null

  constructor(
    private readonly members: MemberView,
    private readonly config: JobsConfig,
    private readonly send: (out: Effect[], to: NodeId, msg: RpcRequest, timeoutMs: number, p: Pending) => number,
  ) {}

  deadlineAt(): Millis | null {
    return this.deadline
  }

  /** A drain read back from disk at start-up. */
  restore(deadlineAt: Millis): void {
    this.deadline = deadlineAt
  }

  /** An operator's drain (an API request): of this node, or of another one, told directly. */
  request(reqId: number, node: NodeId, enable: boolean, deadlineMs: number, transient: boolean, now: Millis, out: Effect[]): void {
    if (node === this.members.selfId) {
      this.set(enable, deadlineMs, now, out, !transient)
      const self = this.members.selfRecord()
      out.push({ kind: 'api-reply', reqId, reply: { status: 202, body: { id: self.id, name: self.name, draining: enable } } })
      return
    }
    const target = this.members.record(node)
    if (!live(target)) {
      out.push({ kind: 'api-reply', reqId, reply: { status: 409, body: { error: {
        code: 'not_alive', message: `node ${target?.name ?? node} is ${target?.state ?? 'unknown'}; only a live node can be drained`,
      } } } })
      return
    }
    this.send(out, node, { type: 'drain', enable, deadlineMs }, this.config.storeTimeoutMs, { purpose: 'drain', reqId, node })
  }

  /** Start (or stop) draining this node; `keep`: persist the flag (a transient drain is not). */
  set(enable: boolean, deadlineMs: number, now: Millis, out: Effect[], keep = true): void {
    this.deadline = enable ? now + deadlineMs : null
    if (keep) out.push({ kind: 'persist', key: DRAIN_KEY, value: enable ? { deadlineAt: this.deadline } : null })
    if (this.members.selfRecord().draining !== enable) this.members.setDraining(enable, now, out)
  }
}
