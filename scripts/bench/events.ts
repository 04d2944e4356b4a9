// One agent's GET /v1/events stream, read by the bench to learn when a job ended or a node died
// without polling (a poll every few ms would itself load the agents being measured). Events are
// remembered with the time they arrived, so a waiter registered after the event still resolves.
// Waiters also poll, slowly, so a missed event costs precision but never hangs the bench; which
// of the two answered is counted, and the report shows it.
import { nowMs } from './clock.js'
import { pollUntil, sleep } from './cluster.js'

/** A job change as /v1/events sends it (`event: job`). */
interface JobEvent { job: string; state: string; node?: string; allocState?: string }
/** A membership change (`event: node`). */
interface NodeEvent { name: string; to: string }

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled'])

export class EventWatch {
  private readonly abort = new AbortController()
  /** Epoch ms a job was first seen terminal, and in which state. */
  private readonly ended = new Map<string, { state: string; at: number }>()
  /** Job id -> (node name, epoch ms) of every report of an allocation of it running. */
  private readonly running = new Map<string, Array<{ node: string; at: number }>>()
  /** Node name -> state -> epoch ms of the latest transition into it. */
  private readonly nodes = new Map<string, Map<string, number>>()
  private readonly listeners = new Set<() => void>()
  /** How many waits the stream answered, and how many the fallback poll answered first. */
  readonly answered = { events: 0, polls: 0 }

  private constructor(readonly api: string) {}

  /** Opens the stream; resolves once the agent answered with its headers. */
  static async open(api: string): Promise<EventWatch> {
    const w = new EventWatch(api)
    const res = await fetch(`${api}/v1/events`, { signal: w.abort.signal })
    if (!res.ok || res.body === null) throw new Error(`${api}/v1/events answered ${res.status}`)
    void w.read(res.body)
    return w
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder()
    let buf = ''
    try {
      for await (const chunk of body) {
        buf += decoder.decode(chunk, { stream: true })
        let end: number
        while ((end = buf.indexOf('\n\n')) >= 0) {
          this.onFrame(buf.slice(0, end))
          buf = buf.slice(end + 2)
        }
      }
    } catch {
      // Closed by us, or the agent died: waiters fall back to polling.
    }
  }

  private onFrame(frame: string): void {
    const at = nowMs()
    let type = ''
    let data = ''
    for (const line of frame.split('\n')) {
      if (line.startsWith('event: ')) type = line.slice(7)
      else if (line.startsWith('data: ')) data += line.slice(6)
    }
    if (data === '') return
    try {
      if (type === 'job') {
        const e = JSON.parse(data) as JobEvent
        if (TERMINAL.has(e.state) && !this.ended.has(e.job)) this.ended.set(e.job, { state: e.state, at })
        if (e.allocState === 'running' && e.node !== undefined) {
          let reports = this.running.get(e.job)
          if (reports === undefined) this.running.set(e.job, reports = [])
          reports.push({ node: e.node, at })
        }
      } else if (type === 'node') {
        const e = JSON.parse(data) as NodeEvent
        let states = this.nodes.get(e.name)
        if (states === undefined) this.nodes.set(e.name, states = new Map())
        states.set(e.to, at)
      } else {
        return
      }
    } catch {
      return
    }
    for (const l of this.listeners) l()
  }

  /** When (epoch ms) the stream reported the job terminal, if it did. */
  endedAt(jobId: string): { state: string; at: number } | undefined {
    return this.ended.get(jobId)
  }

  /** When the stream first reported the job running on a node other than `not`, at or after `since`. */
  runningElsewhereAt(jobId: string, not: string, since: number): number | undefined {
    let first: number | undefined
    for (const { node, at } of this.running.get(jobId) ?? []) {
      if (node !== not && at >= since && (first === undefined || at < first)) first = at
    }
    return first
  }

  /** When the stream last reported `node` entering `state` at or after `since`, if it did. */
  nodeStateAt(node: string, state: string, since: number): number | undefined {
    const at = this.nodes.get(node)?.get(state)
    return at !== undefined && at >= since ? at : undefined
  }

  /**
   * Resolves with the epoch ms the condition was first known: from the stream, or (slower) from
   * `poll`, which returns the time it found the condition true. null after `limitMs`. The first
   * poll waits one interval, so a wait the stream answers promptly sends no request at all.
   */
  async waitUntil(fromStream: () => number | undefined, poll: () => Promise<number | undefined>, limitMs: number, pollEveryMs = 500): Promise<number | null> {
    const now = fromStream()
    if (now !== undefined) { this.answered.events++; return now }
    let done = false
    let listener = (): void => {}
    const streamed = new Promise<number>((resolve) => {
      listener = () => { const at = fromStream(); if (at !== undefined) resolve(at) }
      this.listeners.add(listener)
    })
    const polled = sleep(pollEveryMs).then(() => pollUntil(async () => (done ? -1 : await poll()), limitMs, pollEveryMs))
    try {
      const first = await Promise.race([streamed.then((at) => ({ at, by: 'events' as const })), polled.then((at) => ({ at, by: 'polls' as const }))])
      if (first.at === null || first.at < 0) return null
      this.answered[first.by]++
      return first.at
    } finally {
      done = true
      this.listeners.delete(listener)
    }
  }

  close(): void {
    this.abort.abort()
  }
}
