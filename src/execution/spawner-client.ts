// Starting job processes, either from the agent itself or through the spawner process
// (spawner.mjs), behind one interface: the supervisor asks for a launch and hears, in order,
// spawned(pid) or failed(message), then exited(code, signal, at).
import { fork, type ChildProcess } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Writable } from 'node:stream'
import { spawnProcess, type SpawnRequest } from './spawn-process.js'

/**
 * What happens to one launch, each called at most once, in this order: spawned (which may come
 * before launch() returns) or failed (never before it returns), then exited or lost.
 */
export interface LaunchEvents {
  /** openGate lets a gated process exec the job (once it is in its cgroup). */
  spawned(pid: number, openGate: () => void): void
  /** It never ran (ENOENT, EMFILE, no disk...). No exited() follows. */
  failed(message: string): void
  /** The leader exited (and was reaped); `at` is when, in epoch ms. */
  exited(code: number | null, signal: NodeJS.Signals | null, at: number): void
  /** The spawner went away while the process ran: its exit status will never be known. */
  lost(): void
}

/** Starts processes and reports their ends. */
export interface Launcher {
  /** `req.cwd` is created if missing; the pid file (orphans.ts) is written right after the spawn. */
  launch(id: string, req: SpawnRequest, events: LaunchEvents): void
  /** Lets go of the spawner process, if any. Launches still running report lost(). */
  close(): void
  /** The spawner process's pid, when one is running and ready to start jobs. */
  spawnerPid(): number | undefined
}

/**
 * `../../` is the repository root both from src/execution/ and from the bundle in
 * node_modules/.murmur-<key>/ (bin/murmur.js builds it two levels down for this).
 */
const SPAWNER_PATH = fileURLToPath(new URL('../../src/execution/spawner.mjs', import.meta.url))
/**
 * The spawner does one thing at a time; V8's default worker pool (one thread per core, for
 * concurrent GC and compilation) is only memory to it.
 */
const SPAWNER_NODE_ARGS = ['--v8-pool-size=1']

/** Starts processes from this process (the fallback, and the way without a spawner). */
export class DirectLauncher implements Launcher {
  constructor(private readonly writePid: (dir: string, pid: number) => void) {}

  launch(_id: string, req: SpawnRequest, events: LaunchEvents): void {
    let spawned: { child: ChildProcess; gate: Writable | null }
    try {
      mkdirSync(req.cwd, { recursive: true })
      spawned = spawnProcess(req)
    } catch (err) {
      setImmediate(() => events.failed((err as Error).message))
      return
    }
    const { child, gate } = spawned
    const pid = child.pid
    if (pid === undefined) {
      child.once('error', (err) => events.failed(err.message))
      return
    }
    try {
      this.writePid(req.cwd, pid)
    } catch {
      // as in the spawner: the run goes on without a record for a crash to find
    }
    child.on('error', () => {})
    child.once('exit', (code, signal) => {
      const at = Date.now()
      child.stdio[3]?.destroy()
      events.exited(code, signal, at)
    })
    // At once: the exit may be read in the next poll phase, and must come after this.
    events.spawned(pid, () => gate?.end('go\n'))
  }

  close(): void {}

  spawnerPid(): undefined {
    return undefined
  }
}

type FromSpawner =
  | { t: 'ready' }
  | { t: 'spawned'; id: string; pid: number }
  | { t: 'failed'; id: string; message: string }
  | { t: 'exit'; id: string; code: number | null; signal: NodeJS.Signals | null; at: number }

/**
 * How long a spawner with no run in flight stays. An agent that runs nothing then holds no second
 * process (~9 MB of its own); the first start after that forks a new one, which costs that start
 * ~40 ms. Jobs that come more often than this keep the one they have.
 */
export const DEFAULT_SPAWNER_IDLE_MS = 30_000

/**
 * Starts processes through the spawner process, forked right after the first launch (bootSoon) and
 * let go after idleMs with nothing in flight. Until it says it is ready (a Node process boots in ~40 ms here,
 * ~170 ms with the cores busy), launches are forked from this process instead (`direct`): a job
 * never waits for the spawner's boot, and only the jobs of that moment pay the larger process's
 * fork. If the spawner cannot be started or dies, the launches it held report failed() or lost(),
 * and later launches start a new one.
 */
export class SpawnerLauncher implements Launcher {
  private child: ChildProcess | null = null
  /** The child has said it is ready: launches go to it from then on. */
  private ready = false
  private readonly pending = new Map<string, LaunchEvents>()
  private closed = false
  /** A spawner start is queued for the end of this turn (bootSoon). */
  private booting = false
  /** When the last run in flight ended (ms, monotonic); the idle check runs from there. */
  private idleSince = 0
  private idleTimer: NodeJS.Timeout | undefined

  constructor(
    private readonly bootId: string,
    private readonly onTrouble: (message: string, err?: unknown) => void,
    private readonly direct: Launcher,
    private readonly idleMs = DEFAULT_SPAWNER_IDLE_MS,
  ) {}

  launch(id: string, req: SpawnRequest, events: LaunchEvents): void {
    if (this.closed) {
      setImmediate(() => events.failed('no spawner process'))
      return
    }
    const child = this.child
    if (child === null || !this.ready) {
      this.direct.launch(id, req, events)
      if (child === null) this.bootSoon()
      return
    }
    if (this.pending.has(id)) {
      setImmediate(() => events.failed(`allocation ${id} is already being started`))
      return
    }
    this.pending.set(id, events)
    this.setRef(child)
    child.send({ t: 'start', id, ...req, bootId: this.bootId }, (err) => { if (err) this.drop(child, err) })
  }

  close(): void {
    this.closed = true
    clearTimeout(this.idleTimer)
    if (this.child) this.drop(this.child)
  }

  spawnerPid(): number | undefined {
    return this.ready ? this.child?.pid : undefined
  }

  /**
   * Launches are in flight: the agent waits for their exits, so the channel keeps it alive. With
   * none, the idle check is armed (one timer per idle spell, not one per run).
   */
  private setRef(child: ChildProcess): void {
    if (this.pending.size > 0) {
      child.channel?.ref()
      return
    }
    child.channel?.unref()
    this.idleSince = performance.now()
    this.idleTimer ??= setTimeout(() => this.checkIdle(), this.idleMs).unref()
  }

  private checkIdle(): void {
    this.idleTimer = undefined
    const child = this.child
    if (child === null || this.pending.size > 0) return
    const idleFor = performance.now() - this.idleSince
    if (idleFor < this.idleMs) {
      this.idleTimer = setTimeout(() => this.checkIdle(), this.idleMs - idleFor).unref()
      return
    }
    // Nothing in flight, so nothing is lost: closing the channel is what tells it to exit.
    this.child = null
    this.ready = false
    if (child.connected) child.disconnect()
  }

  /**
   * Starts the spawner once this turn is over, after the launch that needs it went direct: its
   * fork() copies this process's page tables (2-7 ms from a 160 MB process here), which the job
   * would otherwise wait for, and the spawner could not serve that job anyway.
   */
  private bootSoon(): void {
    if (this.booting) return
    this.booting = true
    setImmediate(() => {
      this.booting = false
      if (this.child === null && !this.closed) this.child = this.startSpawner()
    })
  }

  private startSpawner(): ChildProcess | null {
    let child: ChildProcess
    try {
      child = fork(SPAWNER_PATH, ['murmur-spawner'], {
        execArgv: SPAWNER_NODE_ARGS,
        // Its own stderr is the agent's, for a crash's stack; it prints nothing otherwise.
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
        serialization: 'json',
      })
    } catch (err) {
      this.onTrouble('cannot start the spawner process', err)
      return null
    }
    child.on('message', (msg: FromSpawner) => this.onMessage(child, msg))
    child.on('error', (err) => this.drop(child, err))
    child.once('exit', (code, signal) => {
      // Not ours any more when it was let go (closed, or idle): then this exit is the expected one.
      if (this.child === child) this.onTrouble(`the spawner process exited (${code ?? signal}); starting a new one for the next job`)
      this.drop(child)
    })
    child.unref()
    this.setRef(child)
    return child
  }

  private onMessage(child: ChildProcess, msg: FromSpawner): void {
    if (msg.t === 'ready') {
      if (this.child === child) this.ready = true
      return
    }
    const events = this.pending.get(msg.id)
    if (events === undefined || this.child !== child) return
    if (msg.t === 'spawned') {
      events.spawned(msg.pid, () => { if (this.child === child) child.send({ t: 'open', id: msg.id }, () => {}) })
      return
    }
    this.pending.delete(msg.id)
    this.setRef(child)
    if (msg.t === 'failed') events.failed(msg.message)
    else events.exited(msg.code, msg.signal, msg.at)
  }

  /**
   * The spawner is gone or unusable: what it held can no longer be heard of. A launch that has a
   * pid is lost (the supervisor watches its group instead); the others failed.
   */
  private drop(child: ChildProcess, err?: unknown): void {
    if (this.child !== child) return
    if (err !== undefined) this.onTrouble('the spawner process failed', err)
    this.child = null
    this.ready = false
    if (child.connected) child.disconnect()
    const held = [...this.pending.values()]
    this.pending.clear()
    for (const events of held) events.lost()
  }
}
