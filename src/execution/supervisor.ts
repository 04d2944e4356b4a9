// The Supervisor runs allocation attempts as process groups: it starts them, enforces their
// timeout and memory limit, stops them on request, and reports each end exactly once.
import { mkdirSync } from 'node:fs'
import { setTimeout as delay } from 'node:timers/promises'
import { rm } from 'node:fs/promises'
import { pino, type Logger } from 'pino'
import { exitInfo, noteStartFailure, spawnFailedInfo, type Attempt } from './attempt.js'
import { probeCgroup, type AllocationCgroup, type CgroupTree } from './cgroup.js'
import { allocationDir, allocationLogPath, buildEnv, checkLaunchSpec, parseAllocationId, resolveCommand } from './launch-spec.js'
import { livePidByEnvironment, reapOrphans, recordedLivePid, removePidFile, writePidFile } from './orphans.js'
import { bootId, groupMembers, procAvailable, signalGroup } from './proc.js'
import { RssWatcher, type RssOver } from './rss-watch.js'
import { longTimeout } from './spawn-process.js'
import { DirectLauncher, SpawnerLauncher, type Launcher } from './spawner-client.js'
import type { ExitInfo, ExitReason, LaunchSpec, MemoryEnforcement, SupervisorOptions } from './types.js'

/**
 * SIGTERM to SIGKILL. Nomad's default kill_timeout: long enough for a process to flush output and
 * finish a request, short enough that a cancel or a drain does not stall on one that ignores TERM.
 */
export const DEFAULT_GRACE_MS = 5_000
/**
 * RSS poll interval in rss-poll mode. The limit is only as hard as the poll is frequent: a job can
 * overshoot by what it allocates between two rounds. A round is one /proc scan for all
 * allocations, ~1 ms of CPU per 100 processes on the host (measured here), so 4 rounds a second
 * stay around 1% of a core with a few hundred processes while keeping the overshoot window short.
 */
export const DEFAULT_RSS_POLL_MS = 250
/** Where systemd and the distributions mount the cgroup v2 hierarchy. */
const DEFAULT_CGROUP_ROOT = '/sys/fs/cgroup'
/** While waiting for a group to empty: the kernel tears a killed process down within milliseconds. */
const REAP_POLL_MS = 20
/**
 * How long after SIGKILL we wait for the group to vanish before reporting anyway. Only a process
 * stuck in uninterruptible sleep (a dead NFS mount) survives that long, and the core should not
 * wait forever for it.
 */
const REAP_AFTER_KILL_MS = 2_000
/** Watching a run whose spawner died: nothing reports its end, so its group is polled. */
const LOST_POLL_MS = 100

/**
 * Runs attempts on this machine, one process group each, and reports every end once through the
 * onExit given to start(). Restart and backoff are not its business: the core starts attempt N+1.
 * The constructor probes the memory enforcement mode once; it throws only if allocationsDir
 * cannot be created.
 */
export class Supervisor {
  readonly memoryEnforcement: MemoryEnforcement
  /** Why that mode: what the cgroup probe found. */
  readonly memoryEnforcementReason: string
  readonly allocationsDir: string
  private readonly graceMs: number
  private readonly log: Logger
  private readonly cgroups: CgroupTree | null
  private readonly rss: RssWatcher | null
  private readonly attempts = new Map<string, Attempt>()
  private readonly launcher: Launcher
  private closed = false

  constructor(opts: SupervisorOptions) {
    this.allocationsDir = opts.allocationsDir
    this.graceMs = opts.graceMs ?? DEFAULT_GRACE_MS
    this.log = opts.logger ?? pino({ level: 'silent' })
    mkdirSync(this.allocationsDir, { recursive: true })
    const root = opts.cgroupRoot === undefined ? DEFAULT_CGROUP_ROOT : opts.cgroupRoot
    const probe = root === null ? { ok: false as const, why: 'cgroups turned off by option' } : probeCgroup(root, opts.cgroupParent, process.pid)
    this.cgroups = probe.ok ? probe.tree : null
    this.memoryEnforcement = probe.ok ? 'cgroup' : procAvailable ? 'rss-poll' : 'none'
    this.memoryEnforcementReason = probe.ok ? `cgroup v2 groups under ${probe.tree.dir}` : probe.why
    // The poller also covers any allocation whose own cgroup could not be made.
    this.rss = procAvailable
      ? new RssWatcher(opts.rssPollMs ?? DEFAULT_RSS_POLL_MS, (over) => this.onRssOver(over), (err) => this.log.warn({ err }, 'rss poll failed'))
      : null
    // After the cgroup probe: the spawner lives in the agent's own cgroup, as the agent's children did.
    this.launcher = opts.spawner === false
      ? new DirectLauncher(writePidFile)
      : new SpawnerLauncher(bootId(), (message, err) => this.log.error({ err }, message), new DirectLauncher(writePidFile), opts.spawnerIdleMs)
    this.log.info({ mode: this.memoryEnforcement, why: this.memoryEnforcementReason }, 'memory enforcement')
  }

  /**
   * Starts one attempt. Never throws for a bad spec or a failed spawn: onExit then reports
   * 'spawn-failed'. onExit is called exactly once, never before start returns, and only after
   * every process of the attempt's group is gone.
   */
  start(spec: LaunchSpec, onExit: (info: ExitInfo) => void): { pid: Promise<number | undefined> } {
    const startedAt = Date.now()
    const problem = this.closed ? 'the supervisor is shut down'
      : checkLaunchSpec(spec) ?? (this.attempts.has(spec.allocationId) ? `allocation ${spec.allocationId} is already running` : null)
    if (problem) return this.failLater(spec, startedAt, onExit, problem)
    const dir = allocationDir(this.allocationsDir, spec.allocationId)
    let cgroup: AllocationCgroup | null = null
    let env: Record<string, string>
    try {
      env = buildEnv(spec, dir)
      const file = spec.command[0] ?? ''
      // Behind the gate a missing binary would look like the job exiting 127: catch it here.
      if (this.cgroups && !resolveCommand(file, env.PATH ?? '', dir)) {
        mkdirSync(dir, { recursive: true })
        throw new Error(`spawn ${file} ENOENT`)
      }
      cgroup = this.createCgroup(spec)
    } catch (err) {
      noteStartFailure(this.logPath(spec.allocationId, 'stderr'), spec, (err as Error).message)
      return this.failLater(spec, startedAt, onExit, (err as Error).message)
    }
    let resolvePid = (_pid: number | undefined): void => {}
    const pid = new Promise<number | undefined>((resolve) => { resolvePid = resolve })
    let resolveDone = (): void => {}
    const done = new Promise<void>((resolve) => { resolveDone = resolve })
    const attempt: Attempt = {
      spec, dir, pid: undefined, startedAt, onExit, cgroup, stopReason: null, leaderExited: false, done, resolveDone,
    }
    this.attempts.set(spec.allocationId, attempt)
    const failed = (message: string): void => {
      cgroup?.remove()
      clearTimeout(attempt.killTimer)
      attempt.timeoutTimer?.cancel()
      this.attempts.delete(spec.allocationId)
      noteStartFailure(this.logPath(spec.allocationId, 'stderr'), spec, message)
      this.log.warn({ ...runFields(spec.allocationId), message }, 'spawn failed')
      this.deliver(onExit, spawnFailedInfo(spec, startedAt, message))
      resolvePid(undefined)
      resolveDone()
    }
    if (spec.timeoutMs > 0) attempt.timeoutTimer = longTimeout(() => this.terminate(attempt, 'timeout'), spec.timeoutMs)
    this.launcher.launch(spec.allocationId, {
      argv: spec.command, cwd: dir, env, gated: cgroup !== null,
      stdoutPath: this.logPath(spec.allocationId, 'stdout'), stderrPath: this.logPath(spec.allocationId, 'stderr'),
    }, {
      spawned: (leader, openGate) => {
        this.onSpawned(attempt, leader, openGate)
        resolvePid(leader)
      },
      failed,
      exited: (code, signal, at) => void this.onLeaderExit(attempt, code, signal, at),
      lost: () => {
        // The spawner writes the pid file before it says the pid: a run it started is found there,
        // or, if the spawner died between the fork and that write, by the job's environment.
        const leader = attempt.pid ?? (procAvailable ? recordedLivePid(dir) ?? livePidByEnvironment(dir) ?? undefined : undefined)
        if (leader === undefined) {
          failed('the spawner process went away before the job started')
          return
        }
        if (attempt.pid === undefined) {
          attempt.pid = leader
          if (!attempt.cgroup) this.rss?.watch(leader, spec.memoryMb * 1024 * 1024)
          resolvePid(leader)
        }
        void this.onLost(attempt)
      },
    })
    return { pid }
  }

  /**
   * Ends an attempt: SIGTERM to its whole process group, SIGKILL after graceMs. Resolves once
   * onExit has been called; at once if the allocation is not running here.
   */
  async stop(allocationId: string, reason: 'killed' | 'timeout'): Promise<void> {
    const attempt = this.attempts.get(allocationId)
    if (!attempt) return
    this.terminate(attempt, reason)
    await attempt.done
  }

  /**
   * Deletes what a finished attempt left (its directory: logs, pid file). An attempt still
   * running is left alone: its job was collected elsewhere, and its own end will come.
   */
  async remove(allocationId: string): Promise<void> {
    if (!parseAllocationId(allocationId)) throw new RangeError(`invalid allocation id ${JSON.stringify(allocationId)}`)
    if (this.attempts.has(allocationId)) return
    await rm(allocationDir(this.allocationsDir, allocationId), { recursive: true, force: true })
  }

  /** The pid of the spawner process (options.spawner), once it is ready to fork the jobs. */
  spawnerPid(): number | undefined {
    return this.launcher.spawnerPid()
  }

  /** Allocation ids whose processes are running (or still being reaped). */
  running(): string[] {
    return [...this.attempts.keys()]
  }

  /** Agent shutdown: stops everything it started and refuses new starts. */
  async stopAll(): Promise<void> {
    this.closed = true
    await Promise.all(this.running().map((id) => this.stop(id, 'killed')))
    this.launcher.close()
    this.rss?.stop()
    this.cgroups?.remove()
  }

  /**
   * Kills what a previous agent on the same allocations dir started and never saw end (it
   * crashed). Call once at agent start, before start(). Resolves, once they are gone, with those
   * allocation ids (the core decides what becomes of them).
   */
  async reapOrphans(): Promise<string[]> {
    const killed = reapOrphans(this.allocationsDir, new Set(this.attempts.keys()))
    const until = Date.now() + REAP_AFTER_KILL_MS
    while (killed.some((k) => groupMembers(k.pgid).length > 0) && Date.now() < until) await delay(REAP_POLL_MS)
    return killed.map((k) => k.allocationId)
  }

  /** Where an allocation's output goes; valid after the agent restarts too. Throws on a bad id. */
  logPath(allocationId: string, stream: 'stdout' | 'stderr'): string {
    if (!parseAllocationId(allocationId)) throw new RangeError(`invalid allocation id ${JSON.stringify(allocationId)}`)
    return allocationLogPath(this.allocationsDir, allocationId, stream)
  }

  private createCgroup(spec: LaunchSpec): AllocationCgroup | null {
    if (!this.cgroups) return null
    try {
      return this.cgroups.createGroup(spec.allocationId, spec.memoryMb, spec.cpu)
    } catch (err) {
      this.log.warn({ err, ...runFields(spec.allocationId) }, 'cannot make the cgroup; falling back to rss polling')
      return null
    }
  }

  /** The leader runs: its cgroup, the RSS watch, and any stop asked for before it had a pid. */
  private onSpawned(attempt: Attempt, pid: number, openGate: () => void): void {
    attempt.pid = pid
    if (attempt.cgroup) this.openGate(attempt, pid, openGate)
    if (!attempt.cgroup) this.rss?.watch(pid, attempt.spec.memoryMb * 1024 * 1024)
    if (attempt.stopReason !== null) this.signalTerm(attempt)
    // Debug: the core's event line for this run ("... running on <node>") says it at info already.
    this.log.debug({ ...runFields(attempt.spec.allocationId), pid, cgroup: attempt.cgroup !== null }, 'started')
  }

  /** Moves the gate shell into the cgroup, then lets it exec the job. */
  private openGate(attempt: Attempt, pid: number, openGate: () => void): void {
    try {
      attempt.cgroup?.attach(pid)
    } catch (err) {
      this.log.warn({ err, ...runFields(attempt.spec.allocationId) }, 'cannot join the cgroup; falling back to rss polling')
      attempt.cgroup?.remove()
      attempt.cgroup = null
    }
    openGate()
  }

  private terminate(attempt: Attempt, reason: ExitReason, message?: string): void {
    // Once the leader has exited by itself, its exit code is the outcome, whatever comes later.
    if (attempt.stopReason === null && !attempt.leaderExited) {
      attempt.stopReason = reason
      attempt.message = message
    }
    if (reason === 'oom') this.kill(attempt)
    else this.signalTerm(attempt)
  }

  /** SIGTERM now and SIGKILL after graceMs, unless that is under way already. */
  private signalTerm(attempt: Attempt): void {
    // Without a pid yet, onSpawned signals as soon as there is one.
    if (attempt.pid === undefined || attempt.killTimer || attempt.killedAt !== undefined) return
    signalGroup(attempt.pid, 'SIGTERM')
    attempt.killTimer = setTimeout(() => this.kill(attempt), this.graceMs)
  }

  private kill(attempt: Attempt): void {
    if (attempt.pid === undefined) return
    clearTimeout(attempt.killTimer)
    attempt.killedAt ??= Date.now()
    attempt.cgroup?.killAll()
    const res = signalGroup(attempt.pid, 'SIGKILL')
    if (res instanceof Error) this.log.warn({ err: res, ...runFields(attempt.spec.allocationId) }, 'SIGKILL failed')
  }

  private onRssOver(over: RssOver): void {
    const attempt = [...this.attempts.values()].find((a) => a.pid !== undefined && a.pid === over.pgid)
    if (!attempt || attempt.killedAt !== undefined) return
    const mb = (b: number): string => (b / 1024 / 1024).toFixed(1)
    this.terminate(attempt, 'oom', `process group RSS ${mb(over.rssBytes)} MB over the ${mb(over.limitBytes)} MB limit`)
  }

  private async onLeaderExit(attempt: Attempt, code: number | null, signal: NodeJS.Signals | null, finishedAt: number): Promise<void> {
    attempt.leaderExited = true
    attempt.timeoutTimer?.cancel()
    await this.reapGroup(attempt)
    clearTimeout(attempt.killTimer)
    if (attempt.pid !== undefined) this.rss?.unwatch(attempt.pid)
    const info = exitInfo(attempt, code, signal, finishedAt, attempt.cgroup?.oomKills() ?? 0)
    try {
      removePidFile(attempt.dir)
    } catch (err) {
      this.log.warn({ err }, 'cannot remove pid file')
    }
    this.attempts.delete(attempt.spec.allocationId)
    // A clean exit is the core's "succeeded" line at info; anything else says here how it ended.
    const clean = code === 0 && info.reason === 'exited'
    this.log[clean ? 'debug' : 'info']({ ...runFields(info.allocationId), code, signal, reason: info.reason }, 'exited')
    this.deliver(attempt.onExit, info)
    attempt.resolveDone()
  }

  /**
   * The leader is gone; processes it left in its group get the same treatment as a stop (SIGTERM,
   * SIGKILL after grace), because the attempt's memory and cpu are not free until they are gone.
   */
  private async reapGroup(attempt: Attempt): Promise<void> {
    const pid = attempt.pid
    if (pid === undefined) return
    const alive = (): boolean => {
      if (attempt.cgroup?.populated() === true) return true
      // kill(-pgid, 0) fails once no process (not even a zombie) is left: the usual case, no scan.
      if (signalGroup(pid, 0) !== true) return false
      return procAvailable ? groupMembers(pid).length > 0 : true
    }
    while (alive()) {
      this.signalTerm(attempt)
      if (attempt.killedAt !== undefined && Date.now() - attempt.killedAt > REAP_AFTER_KILL_MS) {
        this.log.error({ ...runFields(attempt.spec.allocationId), pgid: pid }, 'processes survive SIGKILL; reporting the exit anyway')
        break
      }
      await delay(REAP_POLL_MS)
    }
    if (attempt.cgroup && !attempt.cgroup.remove()) this.log.warn({ dir: attempt.cgroup.dir }, 'cannot remove cgroup')
  }

  /**
   * The spawner went away while this attempt ran: its leader is no longer our child, so its exit
   * status is lost. Stops and timeouts still work (they only signal the group); its end is when
   * the group is gone, checked at the pace a lost run deserves.
   */
  private async onLost(attempt: Attempt): Promise<void> {
    const pid = attempt.pid
    if (pid === undefined) return
    while (signalGroup(pid, 0) === true && (!procAvailable || groupMembers(pid).length > 0)) await delay(LOST_POLL_MS)
    attempt.message ??= 'the spawner process went away while this ran: the exit status is unknown'
    await this.onLeaderExit(attempt, null, null, Date.now())
  }

  private failLater(spec: LaunchSpec, startedAt: number, onExit: (info: ExitInfo) => void, message: string): { pid: Promise<undefined> } {
    this.log.warn({ ...runFields(spec.allocationId), message }, 'spawn failed')
    setImmediate(() => this.deliver(onExit, spawnFailedInfo(spec, startedAt, message)))
    return { pid: Promise.resolve(undefined) }
  }

  /** A throwing callback is a bug in the caller, but must not take the supervisor down with it. */
  private deliver(onExit: (info: ExitInfo) => void, info: ExitInfo): void {
    try {
      onExit(info)
    } catch (err) {
      this.log.error({ err, ...runFields(info.allocationId) }, 'onExit threw')
    }
  }
}

/** A run's log fields: `job` and `alloc` (the allocation id), the keys every agent log line uses. */
function runFields(allocationId: string): { job: string; alloc: string } {
  return { job: parseAllocationId(allocationId)?.jobId ?? allocationId, alloc: allocationId }
}
