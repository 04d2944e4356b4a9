// Watching a lab: polls the agents' views with deadlines and times what it waits for. Every
// wait is bounded; a timeout throws with what each agent saw last, so a failure explains itself.
import type { Lab, LabNode } from './lab.js'

/** How often views are polled while something is timed (the figures' resolution). */
export const POLL_MS = 50

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

/** Polls `check` until it returns a value other than undefined; throws after `timeoutMs`. */
export async function waitUntil<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number, everyMs = POLL_MS, explain?: () => Promise<string>): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await check()
      if (v !== undefined) return v
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) {
      const why = last instanceof Error ? `: ${last.message}` : ''
      const seen = explain === undefined ? '' : `\n${await explain().catch((e: unknown) => String(e))}`
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}${seen}`)
    }
    await sleep(everyMs)
  }
}

/** Each observer's view as `name:state` pairs, for failure messages. */
export async function describeViews(lab: Lab, observers: readonly string[]): Promise<string> {
  const lines = await Promise.all(observers.map(async (o) => {
    try {
      const nodes = await lab.nodes(o, 2_000)
      return `${o} sees ${nodes.map((n) => `${n.name}:${n.state}`).join(' ')}`
    } catch (err) {
      return `${o}: ${err instanceof Error ? err.message : String(err)}`
    }
  }))
  return lines.join('\n')
}

/** Does `view` show exactly `expected` (name -> state) for those names? Other rows are ignored. */
function shows(view: readonly LabNode[], expected: ReadonlyMap<string, string>): boolean {
  for (const [name, state] of expected) if (view.find((n) => n.name === name)?.state !== state) return false
  return true
}

/**
 * Waits until every observer sees every expected (name, state) pair at the same poll; resolves
 * with the time (epoch ms) of that poll.
 */
export async function waitViews(lab: Lab, observers: readonly string[], expected: ReadonlyMap<string, string>, timeoutMs: number, what: string): Promise<number> {
  return await waitUntil(what, async () => {
    const views = await Promise.all(observers.map((o) => lab.nodes(o, 2_000)))
    return views.every((v) => shows(v, expected)) ? Date.now() : undefined
  }, timeoutMs, POLL_MS, () => describeViews(lab, observers))
}

/** Every one of `hosts` sees every one of them alive; resolves with when. */
export function waitAllAlive(lab: Lab, hosts: readonly string[], timeoutMs: number): Promise<number> {
  return waitViews(lab, hosts, new Map(hosts.map((h) => [h, 'alive'])), timeoutMs, `${hosts.join(', ')} to all see each other alive`)
}

/**
 * Times, per observer, the first poll at which it saw `target` in one of `states`. Resolves once
 * every observer has (the map: observer -> epoch ms), or throws after `timeoutMs`.
 */
export async function timeStates(lab: Lab, observers: readonly string[], target: string, states: readonly string[], timeoutMs: number): Promise<Map<string, number>> {
  const seen = new Map<string, number>()
  await waitUntil(`${observers.join(', ')} to see ${target} ${states.join('|')}`, async () => {
    await Promise.all(observers.filter((o) => !seen.has(o)).map(async (o) => {
      const state = (await lab.nodes(o, 2_000)).find((n) => n.name === target)?.state
      if (state !== undefined && states.includes(state)) seen.set(o, Date.now())
    }))
    return seen.size === observers.length ? true : undefined
  }, timeoutMs, POLL_MS, () => describeViews(lab, observers))
  return seen
}

/**
 * Polls every observer for `durationMs` and returns every (observer, target, state) it saw that
 * is in `states` (e.g. nobody may be declared dead during a non-transitive cut). Unanswered
 * polls count too: an observer that stopped answering is reported.
 */
export async function watchFor(lab: Lab, observers: readonly string[], states: readonly string[], durationMs: number): Promise<{ polls: number; seen: Array<{ at: number; observer: string; target: string; state: string }>; unanswered: number }> {
  const until = Date.now() + durationMs
  const seen: Array<{ at: number; observer: string; target: string; state: string }> = []
  let polls = 0
  let unanswered = 0
  while (Date.now() < until) {
    const began = Date.now()
    await Promise.all(observers.map(async (o) => {
      try {
        for (const n of await lab.nodes(o, 2_000)) if (states.includes(n.state)) seen.push({ at: Date.now(), observer: o, target: n.name, state: n.state })
      } catch {
        unanswered++
      }
    }))
    polls++
    await sleep(Math.max(0, began + 4 * POLL_MS - Date.now()))
  }
  return { polls, seen, unanswered }
}
