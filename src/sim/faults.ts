// The fault plan of a simulated run, written as a short spec (`--faults`):
//
//   SPEC    := FAULT ("," FAULT)*
//   FAULT   := KIND ":" TARGET "@" TIME ["-" TIME]
//   KIND    := kill | restart | freeze | partition | loss
//   TARGET  := NODE ("+" NODE)*   node numbers, 1..N (node-3 is 3)
//            | PERCENT "%"        a seeded random share of the nodes (for loss: the loss rate)
//            | busiest            the node running the most instances at that moment
//   TIME    := NUMBER ("ms" | "s" | "m")   after the workload starts
//
//   kill:3@10s               SIGKILL node 3 at 10 s; it stays down
//   kill:3@10s-20s           ... and restarts from its persisted state at 20 s
//   restart:3@20s            restart node 3 (killed earlier) from its persisted state
//   freeze:2@5s-8s           SIGSTOP node 2 at 5 s, SIGCONT at 8 s (a window is required)
//   partition:30%@15s-25s    cut a random 30% of the nodes off from the rest, heal at 25 s
//   partition:1+2+3@15s-25s  the same with named nodes
//   loss:5%@0s-30s           lose 5% of gossip frames and rpc messages for 30 s
//
// Pure parsing and validation; the runner (scenario.ts) resolves shares and `busiest` at the time
// a fault fires, with its seeded rng.

export type FaultKind = 'kill' | 'restart' | 'freeze' | 'partition' | 'loss'

export type FaultTarget =
  | { kind: 'nodes'; nodes: number[] }
  | { kind: 'share'; percent: number }
  | { kind: 'busiest' }

export interface Fault {
  kind: FaultKind
  target: FaultTarget
  /** ms after the workload starts. */
  at: number
  /** End of the window (thaw, heal, restart, loss off); undefined for a point fault. */
  until: number | undefined
  /** The fault as written, for messages and the report. */
  text: string
}

export class FaultSpecError extends Error {
  override name = 'FaultSpecError'
}

const KINDS: readonly FaultKind[] = ['kill', 'restart', 'freeze', 'partition', 'loss']
const NEEDS_WINDOW: ReadonlySet<FaultKind> = new Set(['freeze', 'partition', 'loss'])
const POINT_ONLY: ReadonlySet<FaultKind> = new Set(['restart'])

/** Parses a spec for a cluster of `nodes` nodes; throws FaultSpecError naming the bad fault. */
export function parseFaults(spec: string, nodes: number): Fault[] {
  const text = spec.trim()
  if (text === '' || text === 'none') return []
  const faults = text.split(',').map((part, i) => parseOne(part.trim(), i + 1, nodes))
  checkRestarts(faults)
  return faults.sort((a, b) => a.at - b.at)
}

function parseOne(part: string, n: number, nodes: number): Fault {
  const fail = (why: string): never => { throw new FaultSpecError(`fault ${n} "${part}": ${why}`) }
  const m = /^([a-z]+):([^@]+)@(.+)$/.exec(part)
  if (m === null) return fail('expected KIND:TARGET@TIME, e.g. kill:3@10s or freeze:2@5s-8s')
  const [, kindText, targetText, whenText] = m as unknown as [string, string, string, string]
  if (!(KINDS as readonly string[]).includes(kindText)) return fail(`unknown kind "${kindText}" (one of ${KINDS.join(', ')})`)
  const kind = kindText as FaultKind
  const window = whenText.split('-')
  if (window.length > 2) return fail(`"${whenText}" is not a time or a window like 5s-8s`)
  const at = parseTime(window[0] as string, fail)
  const until = window.length === 2 ? parseTime(window[1] as string, fail) : undefined
  if (until !== undefined && until <= at) fail(`the window ends (${window[1]}) before it starts (${window[0]})`)
  if (NEEDS_WINDOW.has(kind) && until === undefined) fail(`${kind} needs a window like @${window[0]}-${formatTime(at + 5_000)}`)
  if (POINT_ONLY.has(kind) && until !== undefined) fail(`${kind} happens at one time, not over a window`)
  const target = parseTarget(kind, targetText, nodes, fail)
  return { kind, target, at, until, text: part }
}

function parseTarget(kind: FaultKind, text: string, nodes: number, fail: (why: string) => never): FaultTarget {
  if (text.endsWith('%')) {
    const percent = Number(text.slice(0, -1))
    if (!Number.isFinite(percent) || percent <= 0 || percent >= 100) fail(`"${text}" must be a percentage between 0 and 100 (exclusive)`)
    return { kind: 'share', percent }
  }
  if (kind === 'loss') return fail(`loss takes a rate like 5%, not "${text}"`)
  if (text === 'busiest') {
    if (kind !== 'kill' && kind !== 'freeze') fail('"busiest" applies to kill and freeze')
    return { kind: 'busiest' }
  }
  const list = text.split('+').map((s) => {
    const k = Number(s.startsWith('node-') ? s.slice(5) : s)
    if (!Number.isInteger(k) || k < 1) fail(`"${s}" is not a node number (1..${nodes}), a share like 30% or "busiest"`)
    if (k > nodes) fail(`there is no node ${k} (--nodes ${nodes})`)
    return k
  })
  if (new Set(list).size !== list.length) fail(`node listed twice in "${text}"`)
  if (kind === 'partition' && list.length >= nodes) fail('a partition must leave some nodes on the other side')
  return { kind: 'nodes', nodes: list }
}

function parseTime(text: string, fail: (why: string) => never): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(text.trim())
  if (m === null) return fail(`"${text}" is not a time (use 500ms, 10s or 2m)`)
  const v = Number(m[1])
  return Math.round(m[2] === 'ms' ? v : m[2] === 's' ? v * 1000 : v * 60_000)
}

export function formatTime(ms: number): string {
  return ms % 100 === 0 ? `${ms / 1000}s` : `${ms}ms`
}

/** A restart of a named node needs a kill of that node before it (and not already restarted). */
function checkRestarts(faults: Fault[]): void {
  const events: Array<{ at: number; node: number; down: boolean; text: string }> = []
  for (const f of faults) {
    if (f.target.kind !== 'nodes') continue
    for (const node of f.target.nodes) {
      if (f.kind === 'kill') {
        events.push({ at: f.at, node, down: true, text: f.text })
        if (f.until !== undefined) events.push({ at: f.until, node, down: false, text: f.text })
      } else if (f.kind === 'restart') events.push({ at: f.at, node, down: false, text: f.text })
    }
  }
  events.sort((a, b) => a.at - b.at || Number(b.down) - Number(a.down))
  const down = new Set<number>()
  for (const e of events) {
    if (e.down) down.add(e.node)
    else if (!down.delete(e.node)) throw new FaultSpecError(`fault "${e.text}": node ${e.node} is not down at ${formatTime(e.at)} (kill it first)`)
  }
}

/** The time after which the plan changes nothing any more. */
export function lastFaultTime(faults: readonly Fault[]): number {
  return faults.reduce((t, f) => Math.max(t, f.until ?? f.at), 0)
}
