// The agents of a chaos run: starts them (separate OS processes, through test/support/agents.ts),
// applies faults and brings nodes back, tracks which agents are up, and runs a monitor that polls
// /v1/nodes on every up agent (to time failure detection and to catch negative free resources).
// Everything it starts it stops in stop(); every wait here is bounded.
import { createWriteStream, type WriteStream } from 'node:fs'
import { join } from 'node:path'
import { AgentFleet, type AgentProc } from '../../test/support/agents.js'
import { negativeFrees } from './checker.js'
import type { AgentStart, AppliedFault, JobEvent, JobView, NegativeFree, PlannedFault } from './types.js'

/**
 * up: running and seen alive by every other up agent; frozen: SIGSTOPped; down: dead or stopping;
 * rejoining: restarted or continued, not yet seen alive by every other up agent.
 */
export type AgentState = 'up' | 'frozen' | 'down' | 'rejoining'

interface NodeRow { id: string; name: string; state: string; resources?: { free?: { cpu?: number; memoryMb?: number } } }

/** The monitor's poll period while a detection is being timed (the figure's resolution). */
const DETECT_POLL_MS = 100
/** Otherwise it only samples free resources. */
const IDLE_POLL_MS = 1_000
/** A node that was not seen dead everywhere in this long after its fault is reported undetected. */
const DETECT_LIMIT_MS = 20_000
/** Starting an agent on two shared cores under load; a restart that takes longer is retried. */
const START_TIMEOUT_MS = 60_000
const START_TRIES = 3
/** A restarted or continued node should be seen alive by the others well within this. */
const REJOIN_LIMIT_MS = 30_000
/** A graceful stop (leave + stop processes with their grace) that takes longer is SIGKILLed. */
const TERM_LIMIT_MS = 35_000
const HTTP_TIMEOUT_MS = 2_000

interface Detection {
  victim: string
  states: ReadonlySet<string>
  seen: Map<string, number>
  finish: (at: number | null) => void
}

export interface ClusterOptions {
  nodes: number
  cpu: number
  memoryMb: number
  log: (line: string) => void
  signal: AbortSignal
}

/**
 * GET and parse JSON with a timeout of our own (test/support's getJson fixes 5 s, too long for a
 * 100 ms detection poll when one observer is slow).
 */
export async function fetchJson<T>(url: string, timeoutMs: number): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${await res.text()}`)
  return await res.json() as T
}

/** Resolves with `p`'s value, or `fallback` after `ms`; clears its timer either way. */
export async function within<T, F>(p: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([p, new Promise<F>((resolve) => { timer = setTimeout(() => resolve(fallback), ms) })])
  } finally {
    clearTimeout(timer)
  }
}

/** Sleeps until `until` (epoch ms) or the signal aborts, whichever comes first. */
export function sleepUntil(until: number, signal: AbortSignal): Promise<void> {
  const ms = until - Date.now()
  if (ms <= 0 || signal.aborted) return Promise.resolve()
  return new Promise((resolve) => {
    const done = (): void => { clearTimeout(timer); signal.removeEventListener('abort', done); resolve() }
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
  })
}

export class ChaosCluster {
  readonly fleet = new AgentFleet()
  readonly names: string[]
  /** Every (re)start, for the history's reap times. */
  readonly starts: AgentStart[] = []
  /** Peer id -> name (a restarted agent keeps its peer id). */
  readonly peers: Record<string, string> = {}
  readonly negativeFree: NegativeFree[] = []
  /** Every job event every agent sent on GET /v1/events while we listened. */
  readonly jobEvents: JobEvent[] = []
  readonly warnings: string[] = []
  /** Starts whose "execution ready" line has not been seen yet (their reapedAt is the ready time). */
  private readonly unreaped = new Set<AgentStart>()
  private readonly eventStreams = new Set<AbortController>()
  private readonly states = new Map<string, AgentState>()
  private readonly detections = new Set<Detection>()
  private readonly logs = new Map<string, WriteStream>()
  private monitor: Promise<void> | undefined
  private monitorStop = new AbortController()

  constructor(private readonly runDir: string, private readonly opts: ClusterOptions) {
    this.names = Array.from({ length: opts.nodes }, (_, i) => `n${i + 1}`)
  }

  dataDir(name: string): string {
    return join(this.runDir, 'agents', name)
  }

  state(name: string): AgentState {
    return this.states.get(name) ?? 'down'
  }

  upNames(): string[] {
    return this.names.filter((n) => this.state(n) === 'up')
  }

  notUpCount(): number {
    return this.names.filter((n) => this.state(n) !== 'up').length
  }

  agent(name: string): AgentProc {
    return this.fleet.get(name)
  }

  /** Starts n1, then the rest joining it; resolves once every agent sees every agent alive. */
  async startAll(): Promise<void> {
    const [first, ...rest] = this.names
    await this.launch(first as string, [])
    const joinAddr = this.agent(first as string).p2p
    await Promise.all(rest.map((n) => this.launch(n, [joinAddr])))
    const converged = await this.waitUntil(`${this.names.length} agents to see each other alive`, async () => {
      const views = await Promise.all(this.names.map((n) => this.nodesOf(n)))
      return views.every((v) => v.filter((x) => x.state === 'alive').length === this.names.length)
    }, 120_000, 250)
    // Faults on a cluster that never formed would measure nothing.
    if (!converged) throw new Error(`the ${this.names.length} agents did not all see each other alive within 120 s`)
    for (const n of this.names) this.states.set(n, 'up')
  }

  /** Starts (or restarts, on its data dir) one agent and records when its orphans were gone. */
  private async launch(name: string, join: string[]): Promise<AgentProc> {
    const spawnAt = Date.now()
    const args = ['--cpu', String(this.opts.cpu), '--mem', String(this.opts.memoryMb), ...join.flatMap((a) => ['--join', a])]
    const log = this.logOf(name)
    log.write(`--- ${name} started ${new Date(spawnAt).toISOString()}\n`)
    // The "execution ready" line is logged before the ready line but pino writes in batches, so
    // it may arrive after it: until then the ready line's time stands in (it is later, never earlier).
    let start: AgentStart | undefined
    let reapedAt: number | undefined
    const onStderrLine = (line: string): void => {
      log.write(`${line}\n`)
      if (reapedAt !== undefined) return
      reapedAt = executionReadyAt(line)
      if (reapedAt !== undefined && start !== undefined) { start.reapedAt = reapedAt; this.unreaped.delete(start) }
    }
    const agent = await this.fleet.start(name, args, { dataDir: this.dataDir(name), timeoutMs: START_TIMEOUT_MS, onStderrLine })
    const readyAt = Date.now()
    log.write(`--- ${name} ready pid ${agent.child.pid ?? '?'} peer ${agent.peer}\n`)
    this.peers[agent.peer] = name
    start = { node: name, spawnAt, reapedAt: reapedAt ?? readyAt }
    if (reapedAt === undefined) this.unreaped.add(start)
    this.starts.push(start)
    this.listenEvents(name, agent)
    return agent
  }

  /**
   * Records the agent's job events (GET /v1/events) until it dies or stop() aborts the stream:
   * they show what each agent reported and when, e.g. a job succeeded and later not.
   */
  private listenEvents(name: string, agent: AgentProc): void {
    const ctl = new AbortController()
    this.eventStreams.add(ctl)
    void (async () => {
      try {
        const res = await fetch(`${agent.api}/v1/events`, { signal: ctl.signal })
        if (!res.ok || res.body === null) return
        const decoder = new TextDecoder()
        let buf = ''
        for await (const chunk of res.body) {
          buf += decoder.decode(chunk, { stream: true })
          for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
            this.onEvent(name, buf.slice(0, i))
            buf = buf.slice(i + 2)
          }
        }
      } catch {
        // the agent died or we stopped listening
      } finally {
        this.eventStreams.delete(ctl)
      }
    })()
  }

  private onEvent(agent: string, block: string): void {
    const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n')
    if (data === '') return
    try {
      const e = JSON.parse(data) as { type?: string; job?: string; state?: string; index?: number; attempt?: number; node?: string; allocState?: string; reason?: string }
      if (e.type !== 'job' || typeof e.job !== 'string' || typeof e.state !== 'string') return
      this.jobEvents.push({
        at: Date.now(), agent, job: e.job, state: e.state,
        ...(e.index === undefined ? {} : { index: e.index }), ...(e.attempt === undefined ? {} : { attempt: e.attempt }),
        ...(e.node === undefined ? {} : { node: e.node }), ...(e.allocState === undefined ? {} : { allocState: e.allocState }),
        ...(e.reason === undefined ? {} : { reason: e.reason }),
      })
    } catch {
      // not JSON: ignore
    }
  }

  /** Warns of each start whose "execution ready" line never came: its ready line's time stood in. */
  warnUnreaped(): void {
    for (const s of this.unreaped) this.warnings.push(`${s.node}: no "execution ready" log line; its ready line's time stands for its reap time`)
    this.unreaped.clear()
  }

  /** Agent stderr goes to logs/<name>.log, every line from the start, across restarts, for the replay. */
  private logOf(name: string): WriteStream {
    let out = this.logs.get(name)
    if (out === undefined) {
      out = createWriteStream(join(this.runDir, 'logs', `${name}.log`), { flags: 'a' })
      this.logs.set(name, out)
    }
    return out
  }

  private async nodesOf(name: string): Promise<NodeRow[]> {
    return (await fetchJson<{ nodes: NodeRow[] }>(`${this.agent(name).api}/v1/nodes`, HTTP_TIMEOUT_MS)).nodes
  }

  /** Polls `check` until true; false once `limitMs` passed or the run is aborted. Never throws. */
  private async waitUntil(what: string, check: () => Promise<boolean>, limitMs: number, everyMs: number): Promise<boolean> {
    const deadline = Date.now() + limitMs
    for (;;) {
      try {
        if (await check()) return true
      } catch {
        // an agent that does not answer yet: poll again
      }
      if (Date.now() > deadline || this.opts.signal.aborted) {
        this.opts.log(`gave up after ${limitMs} ms waiting for ${what}`)
        return false
      }
      await sleepUntil(Date.now() + everyMs, this.opts.signal)
    }
  }

  // --- the monitor --------------------------------------------------------------------------------

  startMonitor(): void {
    this.monitor ??= this.monitorLoop(this.monitorStop.signal)
  }

  async stopMonitor(): Promise<void> {
    this.monitorStop.abort()
    await this.monitor
    for (const d of this.detections) d.finish(null)
  }

  private async monitorLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const began = Date.now()
      const observers = this.upNames()
      await Promise.all(observers.map(async (o) => {
        let rows: NodeRow[]
        try {
          rows = await this.nodesOf(o)
        } catch {
          return
        }
        const at = Date.now()
        this.negativeFree.push(...negativeFrees(o, at, rows))
        for (const d of this.detections) {
          if (d.victim === o || d.seen.has(o)) continue
          const row = rows.find((r) => r.name === d.victim)
          if (row !== undefined && d.states.has(row.state)) d.seen.set(o, at)
        }
      }))
      for (const d of this.detections) {
        const others = this.upNames().filter((n) => n !== d.victim)
        if (others.length > 0 && others.every((n) => d.seen.has(n))) d.finish(Math.max(...others.map((n) => d.seen.get(n) as number)))
      }
      await sleepUntil(began + (this.detections.size > 0 ? DETECT_POLL_MS : IDLE_POLL_MS), signal)
    }
  }

  /** Times `victim` until every other up agent has seen it in one of `states`; null if cancelled. */
  private watchDeath(victim: string, states: string[]): { done: Promise<number | null>; cancel: () => void } {
    let finish!: (at: number | null) => void
    const done = new Promise<number | null>((resolve) => { finish = resolve })
    const d: Detection = {
      victim, states: new Set(states), seen: new Map(),
      finish: (at) => { this.detections.delete(d); finish(at) },
    }
    this.detections.add(d)
    return { done, cancel: () => d.finish(null) }
  }

  /** Waits for the detection, at most until `fault + DETECT_LIMIT_MS`. */
  private async detection(w: { done: Promise<number | null>; cancel: () => void }, at: number): Promise<number | null> {
    const timer = setTimeout(w.cancel, Math.max(0, at + DETECT_LIMIT_MS - Date.now()))
    try {
      return await w.done
    } finally {
      clearTimeout(timer)
    }
  }

  // --- faults -------------------------------------------------------------------------------------

  /** Applies one fault and brings its node back; resolves with what happened. */
  async applyFault(f: PlannedFault, plannedAt: number): Promise<AppliedFault> {
    const name = f.node
    const agent = this.agent(name)
    const notes: string[] = []
    // A SIGTERMed agent drains before it leaves: the others knowing it is going is what counts.
    const watch = this.watchDeath(name, f.kind === 'term' ? ['draining', 'left', 'dead'] : ['dead'])
    const at = Date.now()
    this.states.set(name, f.kind === 'stop' ? 'frozen' : 'down')
    this.opts.log(`fault #${f.seq} ${f.kind} ${name} (down ${f.downMs} ms)`)
    let detectedAt: number | null
    let backAt: number | null = null
    if (f.kind === 'stop') {
      agent.child.kill('SIGSTOP')
      await sleepUntil(at + f.downMs, this.opts.signal)
      agent.child.kill('SIGCONT')
      backAt = Date.now()
      // A freeze shorter than the failure detector's patience is, correctly, never noticed.
      watch.cancel()
      detectedAt = await watch.done
      if (detectedAt === null) notes.push('continued before every other agent saw it dead')
    } else {
      agent.child.kill(f.kind === 'kill' ? 'SIGKILL' : 'SIGTERM')
      const exited = await within(agent.exited.then(() => true), TERM_LIMIT_MS, false)
      if (!exited) {
        notes.push(`did not exit within ${TERM_LIMIT_MS} ms of SIGTERM; SIGKILLed`)
        agent.child.kill('SIGKILL')
        await agent.exited
      }
      await sleepUntil(at + f.downMs, this.opts.signal)
      // Restart only once the others have seen it go (bounded), so that every kill is timed.
      detectedAt = await this.detection(watch, at)
      if (detectedAt === null) notes.push(`not seen ${f.kind === 'term' ? 'draining, left or dead' : 'dead'} by every other agent within ${DETECT_LIMIT_MS} ms`)
      backAt = await this.restart(name)
      if (backAt === null) notes.push('could not be restarted')
    }
    let upAt: number | null = null
    if (backAt !== null) {
      await this.rejoin(name)
      upAt = Date.now()
    }
    const applied: AppliedFault = { seq: f.seq, kind: f.kind, node: name, plannedAt, at, backAt, upAt, detectedAt }
    if (notes.length > 0) applied.note = notes.join('; ')
    return applied
  }

  /** Restarts a dead agent on its data dir, joining every up agent; the time it was ready, or null. */
  async restart(name: string): Promise<number | null> {
    for (let i = 1; i <= START_TRIES && !this.opts.signal.aborted; i++) {
      const joins = this.upNames().filter((n) => n !== name).map((n) => this.agent(n).p2p)
      try {
        await this.launch(name, joins)
        this.states.set(name, 'rejoining')
        return Date.now()
      } catch (err) {
        this.warnings.push(`restart of ${name}, try ${i}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`)
      }
    }
    return null
  }

  /** Waits (bounded) for every other up agent to see `name` alive, then counts it as up. */
  private async rejoin(name: string): Promise<void> {
    this.states.set(name, 'rejoining')
    const ok = await this.waitUntil(`${name} to be seen alive again`, async () => {
      const views = await Promise.all(this.upNames().filter((n) => n !== name).map((n) => this.nodesOf(n)))
      return views.every((v) => v.find((r) => r.name === name)?.state === 'alive')
    }, REJOIN_LIMIT_MS, 200)
    if (!ok) this.warnings.push(`${name} was not seen alive by every other agent within ${REJOIN_LIMIT_MS} ms of coming back`)
    this.states.set(name, 'up')
  }

  /** After the window: continue what is frozen, restart what is down. */
  async ensureAllUp(): Promise<void> {
    await Promise.all(this.names.map(async (n) => {
      const s = this.state(n)
      if (s === 'up') return
      const a = this.agent(n)
      if (a.child.exitCode === null && a.child.signalCode === null) {
        a.child.kill('SIGCONT')
      } else if (await this.restart(n) === null) {
        return
      }
      await this.rejoin(n)
    }))
  }

  // --- jobs ---------------------------------------------------------------------------------------

  /** GET /v1/jobs from every up agent (null for one that does not answer). */
  async jobViews(): Promise<Array<{ agent: string; jobs: JobView[] | null }>> {
    return await Promise.all(this.names.filter((n) => this.state(n) === 'up').map(async (n) => {
      try {
        const r = await fetchJson<{ jobs: JobView[] }>(`${this.agent(n).api}/v1/jobs`, 10_000)
        return { agent: n, jobs: r.jobs }
      } catch {
        return { agent: n, jobs: null }
      }
    }))
  }

  /** GET /v1/nodes from every up agent, raw (for the post-mortem of a kept run). */
  async nodeViews(): Promise<Array<{ agent: string; nodes: unknown }>> {
    return await Promise.all(this.upNames().map(async (n) => ({ agent: n, nodes: await this.nodesOf(n).catch((err: unknown) => String(err)) })))
  }

  // --- the end ------------------------------------------------------------------------------------

  /**
   * Stops every agent gracefully (SIGCONT first, then SIGTERM: an agent stops its processes on
   * the way out), SIGKILLs what is still there after the limit, and closes the logs.
   */
  async stop(): Promise<void> {
    await this.stopMonitor()
    for (const ctl of this.eventStreams) ctl.abort()
    await Promise.all([...this.fleet.agents.values()].map(async (a) => {
      if (a.child.exitCode !== null || a.child.signalCode !== null) return
      a.child.kill('SIGCONT')
      a.child.kill('SIGTERM')
      await within(a.exited, 15_000, undefined)
    }))
    await this.fleet.cleanup()
    await Promise.all([...this.logs.values()].map((s) => new Promise<void>((r) => s.end(r))))
  }
}

/**
 * The agent logs "execution ready" after it killed what its earlier life left running and
 * before it can take any work; its pino `time` is when the orphans were gone.
 */
function executionReadyAt(line: string): number | undefined {
  if (!line.includes('"execution ready"')) return undefined
  try {
    const t = (JSON.parse(line) as { time?: unknown }).time
    return typeof t === 'number' ? t : undefined
  } catch {
    return undefined // not a JSON log line
  }
}
