// Attempts made ready before their start: the process is forked now, behind the gate shell
// (spawn-process.ts), and runs nothing of the job until start() opens the gate. Forking the agent
// is the slow part of a start (an agent of ~100 MB takes 2-6 ms per fork here, its event loop
// blocked meanwhile); the node asks for it when it claims a run for itself, and the start comes a
// round trip later, once the claim is on the other storing nodes' disks. So that round trip hides
// the fork. A prepared process that is not started in time is killed: it never ran the job.
import type { ChildProcess } from 'node:child_process'
import type { Writable } from 'node:stream'
import type { AllocationCgroup } from './cgroup.js'
import { isLive, procAvailable, readStatSync, signalGroup } from './proc.js'

/** A forked attempt waiting at its gate. */
export interface ReadyProcess {
  child: ChildProcess
  /** Writing a line to it lets the process exec the job; closing it makes the gate exit 125. */
  gate: Writable
  /** The attempt's group in cgroup mode (made, not yet joined), else null. */
  cgroup: AllocationCgroup | null
}

/**
 * How long a prepared process waits for its start. The start follows the claim by one round trip
 * to the other storing nodes; a grant retried after a failed store (500 ms) or resent (2 s) still
 * finds it. Later starts fork anew.
 */
export const PREPARED_TTL_MS = 10_000

/**
 * Prepared processes at once. A burst of claims on this node prepares this many and forks the
 * rest at their start, as before; a bound on processes that a claim refused at its start leaves
 * waiting until their TTL.
 */
export const MAX_PREPARED = 32

export class PreparedRuns {
  readonly #ready = new Map<string, ReadyProcess & { timer: NodeJS.Timeout }>()
  readonly #ttlMs: number

  constructor(ttlMs = PREPARED_TTL_MS) {
    this.#ttlMs = ttlMs
  }

  get size(): number {
    return this.#ready.size
  }

  /** Whether another can be kept (not at the bound, none for this allocation yet). */
  canTake(allocationId: string): boolean {
    return this.#ready.size < MAX_PREPARED && !this.#ready.has(allocationId)
  }

  add(allocationId: string, ready: ReadyProcess): void {
    const timer = setTimeout(() => this.discard(allocationId), this.#ttlMs)
    timer.unref()
    this.#ready.set(allocationId, { ...ready, timer })
  }

  /**
   * The prepared process of this allocation, now the caller's, or undefined (none, or its gate
   * already exited: a process that emitted 'exit' cannot be handed over, its end would be missed).
   */
  take(allocationId: string): ReadyProcess | undefined {
    const ready = this.#ready.get(allocationId)
    if (ready === undefined) return undefined
    this.#ready.delete(allocationId)
    clearTimeout(ready.timer)
    if (!waiting(ready.child)) {
      dispose(ready)
      return undefined
    }
    return { child: ready.child, gate: ready.gate, cgroup: ready.cgroup }
  }

  /** Kills the prepared process of this allocation, if any (it never ran the job). */
  discard(allocationId: string): void {
    const ready = this.#ready.get(allocationId)
    if (ready === undefined) return
    this.#ready.delete(allocationId)
    clearTimeout(ready.timer)
    dispose(ready)
  }

  /** Kills every prepared process (the supervisor shuts down). */
  discardAll(): void {
    for (const id of [...this.#ready.keys()]) this.discard(id)
  }
}

/**
 * Whether the gate still waits. Node learns of an exit only when it reaps the child, on a later
 * turn: a gate killed from outside is a zombie before that, and handing it over would report the
 * job as killed when it never ran. /proc says so at once.
 */
function waiting(child: ChildProcess): boolean {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return false
  if (!procAvailable) return true
  const stat = readStatSync(child.pid)
  return stat !== null && isLive(stat)
}

/** Kills a prepared process that will never be started, and removes its (empty, never joined) cgroup once it is gone. */
export function dispose(ready: ReadyProcess): void {
  ready.gate.destroy()
  const pid = ready.child.pid
  const gone = ready.child.exitCode !== null || ready.child.signalCode !== null
  if (!gone && pid !== undefined) signalGroup(pid, 'SIGKILL')
  if (ready.cgroup === null) return
  const cgroup = ready.cgroup
  if (gone) cgroup.remove()
  else ready.child.once('exit', () => { cgroup.remove() })
}
