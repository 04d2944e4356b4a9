// Lifeguard's suspicion (Dadgar et al., "Lifeguard: Local Health Awareness for More Accurate
// Failure Detection"): a suspected member is declared dead when its suspicion times out, and the
// timeout shrinks as other members independently confirm the suspicion, from suspicionMaxMs with
// no confirmation down to suspicionMinMs with K of them. A refused dial is a dead process, never
// a slow one, so our own refused probe takes the short suspicionRefusedMs instead.
import type { MembershipConfig } from './config.js'
import type { Millis, NodeId } from './types.js'

export interface Suspicion {
  incarnation: number
  startedAt: Millis
  /** Nodes that independently claimed this suspicion (the first claimer included). */
  confirmers: Set<NodeId>
  /** Our own probe of it was refused outright: nothing listens there (see suspicionRefusedMs). */
  refused?: boolean
  /** Who raised it (the first claimer we heard of): our own failed probe of the suspect is told to it. */
  accuser: NodeId
}

/**
 * max - (max - min) * log(C + 1) / log(K + 1), C = confirmations beyond the first. Not stretched
 * by local health (as memberlist): a node cut off from everyone has the worst health of all, and
 * must still see the others gone within the bound.
 */
export function suspicionTimeout(s: Suspicion, config: MembershipConfig, liveCount: number): number {
  const { suspicionMinMs: min, suspicionMaxMs: max } = config
  if (s.refused === true) return Math.min(min, config.suspicionRefusedMs)
  // K: how many confirmations we can expect; too few members to confirm means use the minimum.
  const k = Math.min(config.suspicionConfirmations, liveCount - 2)
  if (k < 1) return min
  const c = Math.min(k, s.confirmers.size - 1)
  return Math.max(min, max - (max - min) * Math.log(c + 1) / Math.log(k + 1))
}

/** The suspicions a node holds, one per suspected member, with their timers. */
export class Suspicions {
  private readonly held = new Map<NodeId, Suspicion>()

  constructor(private readonly config: MembershipConfig) {}

  get(id: NodeId): Suspicion | undefined {
    return this.held.get(id)
  }

  /**
   * A record of `id` entered the table: a suspicion of a new incarnation starts a timer, one of
   * the same incarnation from another claimer confirms it, any other state ends it. True when a
   * timer started.
   */
  note(id: NodeId, state: string, incarnation: number, by: NodeId, now: Millis): boolean {
    if (state !== 'suspect') {
      this.held.delete(id)
      return false
    }
    const s = this.held.get(id)
    if (s !== undefined && s.incarnation === incarnation) {
      s.confirmers.add(by)
      return false
    }
    this.held.set(id, { incarnation, startedAt: now, confirmers: new Set([by]), accuser: by })
    return true
  }

  /** `by` claims the suspicion of `id` at `incarnation` too. */
  confirm(id: NodeId, incarnation: number, by: NodeId): void {
    const s = this.held.get(id)
    if (s !== undefined && s.incarnation === incarnation) s.confirmers.add(by)
  }

  delete(id: NodeId): void {
    this.held.delete(id)
  }

  clear(): void {
    this.held.clear()
  }

  /** The suspects whose timers ran out by `now`. */
  expired(now: Millis, liveCount: number): NodeId[] {
    const out: NodeId[] = []
    for (const [id, s] of this.held) if (now >= s.startedAt + suspicionTimeout(s, this.config, liveCount)) out.push(id)
    return out
  }

  /** When the next timer runs out (Infinity: none held). */
  nextDue(liveCount: number): Millis {
    let at = Infinity
    for (const s of this.held.values()) at = Math.min(at, s.startedAt + suspicionTimeout(s, this.config, liveCount))
    return at
  }

  /** Our event loop stalled for `ms`: every timer gets that time back. */
  shift(ms: number): void {
    for (const s of this.held.values()) s.startedAt += ms
  }
}

/**
 * Lifeguard's local health multiplier: 0 = healthy, up to maxLocalHealth. Failed probes of ours,
 * refutations of suspicions of us and our own stalls raise it, acks lower it; a node that is
 * probably the slow one stretches its own probe interval and timeouts by `scale` instead of
 * accusing others.
 */
export class LocalHealth {
  private value = 0

  constructor(private readonly max: number) {}

  /** 1 + health: the factor our own probe timing is stretched by. */
  get scale(): number {
    return 1 + this.value
  }

  /** Moves health by `delta` within [0, max]; returns the new level. */
  change(delta: number): number {
    this.value = Math.max(0, Math.min(this.max, this.value + delta))
    return this.value
  }
}
