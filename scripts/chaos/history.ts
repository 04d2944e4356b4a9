// The history: every job process appends a line when it starts and when it ends, to one file per
// job in a directory all agents share (they run on one machine). This file holds the job's shell
// script, the line parser, and the pairing of lines into runs with a justified end time. Pure.
import type { AgentStart, EndKind, HistoryLine, Run } from './types.js'

/**
 * The job's command (`sh -c SCRIPT`). A line is `<kind> <allocId> <epoch ms> <pid> <allocDir>`;
 * MURMUR_ALLOC_DIR is under the agent's data dir, so it names the node that ran the process.
 * The trap is set before the start line so that a stop right after the start is still recorded;
 * it also kills the sleep in case only the shell got the signal. Lines are far below PIPE_BUF, and
 * O_APPEND writes of that size do not interleave. Services sleep a day: they end when stopped.
 */
export const JOB_SCRIPT = [
  'f="$CHAOS_HISTORY/$MURMUR_JOB_ID"',
  'rec() { echo "$1 $MURMUR_ALLOC_ID $(date +%s%3N) $$ $MURMUR_ALLOC_DIR" >> "$f"; }',
  'trap \'kill $! 2>/dev/null; rec term; exit 143\' TERM',
  'rec start',
  'sleep "$CHAOS_SLEEP" & wait $!',
  'rec end',
].join('\n')

const LINE = /^(start|end|term) (\S+)\.(\d+)\.(\d+) (\d+) (\d+) (.+)$/

/** `<root>/<node>/allocs/<allocId>` -> node. */
export function nodeFromAllocDir(allocDir: string): string | undefined {
  const parts = allocDir.split('/').filter((p) => p !== '')
  return parts.length >= 3 && parts[parts.length - 2] === 'allocs' ? parts[parts.length - 3] : undefined
}

export interface ParsedHistory {
  lines: HistoryLine[]
  /** Lines that did not parse (a torn write would show up here). */
  bad: string[]
}

export function parseHistory(text: string): ParsedHistory {
  const lines: HistoryLine[] = []
  const bad: string[] = []
  for (const raw of text.split('\n')) {
    if (raw.trim() === '') continue
    const m = LINE.exec(raw)
    const node = m === null ? undefined : nodeFromAllocDir(m[7] as string)
    if (m === null || node === undefined) {
      bad.push(raw)
      continue
    }
    const jobId = m[2] as string
    lines.push({
      kind: m[1] as HistoryLine['kind'], allocId: `${jobId}.${m[3]}.${m[4]}`, jobId, index: Number(m[3]), attempt: Number(m[4]),
      at: Number(m[5]), pid: Number(m[6]), node,
    })
  }
  return { lines, bad }
}

export interface RunContext {
  /** Every (re)start of every agent, with the time its orphans were gone. */
  starts: AgentStart[]
  /**
   * When the run's own agent recorded its end (finishedAt of an allocation that agent finished:
   * succeeded, failed or cancelled), or null. Not a `lost` mark: another node writes that.
   */
  recordedEnd: (allocId: string, node: string) => number | null
  /** When the history was read: the end of an open run. */
  until: number
}

export interface BuiltRuns {
  runs: Run[]
  /** Lines that could not be paired: an end without a start, a start written twice. */
  anomalies: string[]
}

/**
 * Pairs start lines with end/term lines (same node, allocation and pid). A start without an end
 * gets a justified end, the earliest that is certain:
 * 1. its agent was restarted after the run started: the restart's reap time (a restarted agent
 *    kills what its earlier life left before it takes new work), or the agent's own record of the
 *    end if that came first (the agent saw it exit, e.g. SIGKILLed after the stop grace);
 * 2. else the agent's own record of the end;
 * 3. else it is open until the history was read.
 */
export function buildRuns(lines: HistoryLine[], ctx: RunContext): BuiltRuns {
  const sorted = [...lines].sort((a, b) => a.at - b.at)
  const open = new Map<string, Run>()
  const runs: Run[] = []
  const anomalies: string[] = []
  for (const l of sorted) {
    const key = `${l.node}|${l.allocId}|${l.pid}`
    if (l.kind === 'start') {
      if (open.has(key)) anomalies.push(`start written twice: ${l.allocId} pid ${l.pid} on ${l.node}`)
      const run: Run = { node: l.node, allocId: l.allocId, jobId: l.jobId, index: l.index, attempt: l.attempt, pid: l.pid, start: l.at, end: l.at, endKind: 'open' }
      open.set(key, run)
      runs.push(run)
      continue
    }
    const run = open.get(key)
    if (run === undefined) {
      // A stop that came before the start line (the trap is set first): it did not really run.
      anomalies.push(`${l.kind} without a start: ${l.allocId} pid ${l.pid} on ${l.node} at ${l.at}`)
      continue
    }
    open.delete(key)
    run.end = l.at
    run.endKind = l.kind
  }
  for (const run of open.values()) {
    const restart = ctx.starts.filter((s) => s.node === run.node && s.spawnAt > run.start).sort((a, b) => a.spawnAt - b.spawnAt)[0]
    const recorded = ctx.recordedEnd(run.allocId, run.node)
    let end: number
    let kind: EndKind
    if (restart !== undefined) {
      const useRecorded = recorded !== null && recorded >= run.start && recorded <= restart.reapedAt
      end = useRecorded ? recorded : restart.reapedAt
      kind = useRecorded ? 'recorded' : 'reaped'
    } else if (recorded !== null && recorded >= run.start) {
      end = recorded
      kind = 'recorded'
    } else {
      end = Math.max(run.start, ctx.until)
      kind = 'open'
    }
    run.end = end
    run.endKind = kind
  }
  return { runs, anomalies }
}
