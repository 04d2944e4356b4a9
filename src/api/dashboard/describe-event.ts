// How a cluster event reads in the feed: one sentence, and a kind that colours it and lets a
// person (or a test) pick out deaths, lost runs, re-placements and stopped duplicates.
import type { ClusterEvent } from './wire.js'

export type EventKind =
  | 'node-joined' | 'node-alive' | 'node-suspect' | 'node-dead' | 'node-left' | 'node-other'
  | 'job-state' | 'placed' | 'replaced' | 'started' | 'lost' | 'finished' | 'failed' | 'cancelled' | 'duplicates' | 'job-other'

export interface Described { kind: EventKind; text: string }

/**
 * The core's reason for a member-state change in plain words: `claimed by n2` is the node whose
 * verdict it was (its failed probe for a suspicion, its expired suspicion timer for a death).
 */
export function stateChangeWords(to: string, reason: string): string {
  const claimed = /^claimed by (.+)$/.exec(reason)
  if (claimed !== null) {
    if (to === 'suspect') return `suspected by ${claimed[1]} (its probe failed)`
    if (to === 'dead') return `declared dead by ${claimed[1]} (not refuted in time)`
    return `${to}, said ${claimed[1]}`
  }
  switch (reason) {
    case 'refuted': return 'it refuted the suspicion'
    case 'leaving': return 'it said goodbye'
    case 'announced': return `${to}, by its own word`
    default: return reason === '' ? to : `${to} (${reason})`
  }
}

export function describeEvent(e: ClusterEvent): Described {
  if (e.type === 'node') {
    const words = stateChangeWords(e.to, e.reason)
    switch (e.to) {
      case 'alive': return e.from === 'unknown' || e.from === ''
        ? { kind: 'node-joined', text: `${e.name} joined` }
        : { kind: 'node-alive', text: `${e.name} is alive again: ${words}` }
      case 'suspect': return { kind: 'node-suspect', text: `${e.name} is suspect: ${words}` }
      case 'dead': return { kind: 'node-dead', text: `${e.name} is dead: ${words}` }
      case 'left': return { kind: 'node-left', text: `${e.name} left: ${words}` }
      default: return { kind: 'node-other', text: `${e.name}: ${e.from} → ${e.to} (${e.reason})` }
    }
  }
  const job = e.name === '' ? e.job : `${e.name} (${e.job})`
  if (e.allocState === undefined) {
    if (e.reason !== undefined && /duplicate/.test(e.reason)) return { kind: 'duplicates', text: `${job}: ${e.reason}` }
    return { kind: 'job-state', text: `${job} is ${e.state}${e.reason === undefined ? '' : ` (${e.reason})`}` }
  }
  const inst = `${job} #${e.index ?? 0}`
  const attempt = (e.attempt ?? 1) > 1 ? `, attempt ${e.attempt}` : ''
  const on = e.node === undefined || e.node === '' ? '' : ` on ${e.node}`
  const why = e.reason === undefined ? '' : ` (${e.reason})`
  switch (e.allocState) {
    case 'claimed': return (e.attempt ?? 1) > 1
      ? { kind: 'replaced', text: `${inst} placed again${on}${attempt}` }
      : { kind: 'placed', text: `${inst} placed${on}` }
    case 'running': return { kind: 'started', text: `${inst} running${on}${attempt}` }
    case 'lost': return { kind: 'lost', text: `${inst} lost${on}${attempt}${why}` }
    case 'succeeded': return { kind: 'finished', text: `${inst} succeeded${on}${attempt}` }
    case 'failed': return { kind: 'failed', text: `${inst} failed${on}${attempt}${why}` }
    case 'cancelled': return { kind: 'cancelled', text: `${inst} cancelled${on}${attempt}${why}` }
    default: return { kind: 'job-other', text: `${inst} ${e.allocState}${on}${attempt}${why}` }
  }
}
