// One `murmur agent` child process as `murmur up` runs it: spawned with its stderr in
// <data dir>/agent.log, ready once it prints the ready line, stopped with SIGTERM then SIGKILL.
import { spawn, type ChildProcess } from 'node:child_process'
import { appendFileSync, closeSync, fstatSync, mkdirSync, openSync, readSync } from 'node:fs'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { AGENT_NODE_FLAGS } from './agent-node-flags.js'
import { SUPERVISED_ENV, parseReadyLine, type ReadyInfo } from './agent-handshake.js'
import type { Env } from './flags.js'

const RUN_MARKER = '--- murmur up: starting '

export interface NodeProcessSpec {
  name: string
  dataDir: string
  /** Arguments after `agent`. */
  args: string[]
  /** The script that runs the CLI (bin/murmur.js); tests substitute a fake agent. */
  binPath: string
  env: Env
  /** Give up on a node that has not printed its ready line after this long. */
  readyTimeoutMs: number
}

export interface ExitInfo {
  code: number | null
  signal: NodeJS.Signals | null
}

/** A running (or finished) agent child. */
export class NodeProcess {
  readonly logPath: string
  readonly child: ChildProcess
  /** Resolves with the ready line's fields; rejects if the child exits or times out first. */
  readonly ready: Promise<ReadyInfo>
  /** Resolves when the child has exited, however it ended. */
  readonly exited: Promise<ExitInfo>
  private exitInfo: ExitInfo | undefined

  constructor(readonly spec: NodeProcessSpec) {
    mkdirSync(spec.dataDir, { recursive: true })
    this.logPath = path.join(spec.dataDir, 'agent.log')
    // The log survives restarts like the data dir does; a marker line separates the runs.
    appendFileSync(this.logPath, `${RUN_MARKER}${spec.name} at ${new Date().toISOString()}\n`)
    const logFd = openSync(this.logPath, 'a')
    try {
      this.child = spawn(process.execPath, [...AGENT_NODE_FLAGS, spec.binPath, 'agent', ...spec.args], {
        env: { ...spec.env, [SUPERVISED_ENV]: '1' },
        // stdin stays an open pipe: its end tells the agent that `up` is gone (see SUPERVISED_ENV).
        stdio: ['pipe', 'pipe', logFd],
        // Own process group, so a terminal's Ctrl-C reaches only `up`, which then stops each node
        // once, gracefully, instead of every node getting SIGINT and then SIGTERM on top.
        detached: true,
      })
    } finally {
      closeSync(logFd)
    }
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal }
        resolve(this.exitInfo)
      })
      // A spawn failure (no such executable) has no 'exit'; report it as one.
      this.child.once('error', () => {
        if (this.child.exitCode === null && this.child.signalCode === null && this.child.pid === undefined) {
          this.exitInfo = { code: 127, signal: null }
          resolve(this.exitInfo)
        }
      })
    })
    this.ready = this.waitReady()
    // Nobody may be awaiting `ready` yet; its rejection is handled by whoever does.
    this.ready.catch(() => undefined)
  }

  get pid(): number | undefined {
    return this.child.pid
  }

  get hasExited(): boolean {
    return this.exitInfo !== undefined
  }

  private waitReady(): Promise<ReadyInfo> {
    return new Promise((resolve, reject) => {
      const lines = createInterface({ input: this.child.stdout! })
      const timer = setTimeout(() => {
        reject(new Error(`${this.spec.name} not ready after ${this.spec.readyTimeoutMs / 1000}s`))
      }, this.spec.readyTimeoutMs)
      // Keep reading after the ready line so the child never blocks on a full stdout pipe.
      lines.on('line', (line) => {
        const info = parseReadyLine(line)
        if (info !== undefined) {
          clearTimeout(timer)
          resolve(info)
        }
      })
      void this.exited.then((exit) => {
        clearTimeout(timer)
        reject(new Error(`${this.spec.name} exited before it was ready (${describeExit(exit)})`))
      })
    })
  }

  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  async stop(graceMs: number): Promise<ExitInfo> {
    if (this.exitInfo !== undefined) return this.exitInfo
    this.child.kill('SIGTERM')
    let timer: NodeJS.Timeout | undefined
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.child.kill('SIGKILL')
        resolve()
      }, graceMs)
    })
    await Promise.race([this.exited, killed])
    clearTimeout(timer)
    return this.exited
  }

  /** SIGKILL at once (a second Ctrl-C). */
  kill(): void {
    if (this.exitInfo === undefined) this.child.kill('SIGKILL')
  }

  /** The last lines of the node's log, for a failure report. */
  logTail(lines = 20): string {
    let fd: number | undefined
    try {
      fd = openSync(this.logPath, 'r')
      // The end is enough; a log of many restarts can be large.
      const size = fstatSync(fd).size
      const buffer = Buffer.alloc(Math.min(size, 64 * 1024))
      readSync(fd, buffer, 0, buffer.length, size - buffer.length)
      const all = buffer.toString('utf8').split('\n').filter((l) => l !== '')
      // Only this run: earlier runs' lines would point at the wrong failure.
      const start = all.findLastIndex((l) => l.startsWith(RUN_MARKER))
      return all.slice(Math.max(start, all.length - lines)).join('\n')
    } catch {
      return '(no log)'
    } finally {
      if (fd !== undefined) closeSync(fd)
    }
  }
}

export function describeExit(exit: ExitInfo): string {
  return exit.signal !== null ? `signal ${exit.signal}` : `exit code ${exit.code ?? '?'}`
}
