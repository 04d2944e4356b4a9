// One process started inside a lab host's namespace (`ip netns exec`, which execs: the child's
// pid is the process itself, so signals reach it directly): a murmur agent, waited for until it
// prints the contract's ready line, or the host's API bridge, waited for until it listens.
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { AGENT_NODE_FLAGS } from '../../src/cli/agent-node-flags.js'

export const BIN = resolve(import.meta.dirname, '../../bin/murmur.js')
export const BRIDGE = resolve(import.meta.dirname, 'api-bridge.js')
const READY = /^murmur: ready name=(\S+) peer=(\S+) api=(\S+) p2p=(\S+)$/
/** Agent stderr lines kept in memory for failure messages (the whole log is in the run dir). */
const TAIL_LINES = 200

export interface Exit { code: number | null; signal: NodeJS.Signals | null }

/** A running agent of the lab. */
export interface LabAgent {
  host: string
  peer: string
  api: string
  p2p: string
  pid: number
  child: ChildProcess
  /** When it was spawned and when it printed its ready line (epoch ms). */
  spawnedAt: number
  readyAt: number
  /** The last stderr lines (pino JSON). */
  tail: string[]
  exited: Promise<Exit>
}

function waitExit(child: ChildProcess): Promise<Exit> {
  return new Promise((res) => {
    if (child.exitCode !== null || child.signalCode !== null) res({ code: child.exitCode, signal: child.signalCode })
    else child.once('exit', (code, signal) => res({ code, signal }))
  })
}

export function isAlive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null
}

/**
 * Starts `node bin/murmur.js agent ARGS` in namespace `ns`; resolves once it is ready. Its
 * stderr goes to `logFile` (appended across restarts). A start that fails or times out kills
 * what it started before it throws.
 */
export async function startAgentIn(ns: string, host: string, args: string[], logFile: string, timeoutMs: number): Promise<LabAgent> {
  const spawnedAt = Date.now()
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, ...AGENT_NODE_FLAGS, BIN, 'agent', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = waitExit(child)
  const log = createWriteStream(logFile, { flags: 'a' })
  log.write(`--- ${host} started ${new Date(spawnedAt).toISOString()} pid ${child.pid ?? '?'}\n`)
  const tail: string[] = []
  createInterface({ input: child.stderr! }).on('line', (l) => {
    log.write(`${l}\n`)
    tail.push(l)
    if (tail.length > TAIL_LINES) tail.shift()
  })
  void exited.then(() => log.end())
  let timer: NodeJS.Timeout | undefined
  try {
    const m = await new Promise<RegExpExecArray>((res, rej) => {
      timer = setTimeout(() => rej(new Error(`${host}: agent not ready within ${timeoutMs} ms; stderr:\n${tail.slice(-15).join('\n')}`)), timeoutMs)
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const ready = READY.exec(line)
        if (ready !== null) res(ready)
      })
      void exited.then(({ code, signal }) => rej(new Error(`${host}: agent exited (${code ?? signal}) before it was ready:\n${tail.slice(-15).join('\n')}`)))
    })
    return { host, peer: m[2] as string, api: m[3] as string, p2p: m[4] as string, pid: child.pid as number, child, spawnedAt, readyAt: Date.now(), tail, exited }
  } catch (err) {
    if (isAlive(child)) child.kill('SIGKILL')
    await exited
    throw err
  } finally {
    clearTimeout(timer)
  }
}

/** Starts the API bridge of a host (api-bridge.js) and resolves once it listens. */
export async function startBridgeIn(ns: string, socketPath: string, addr: string, port: number, timeoutMs: number): Promise<{ child: ChildProcess; exited: Promise<Exit> }> {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, BRIDGE, socketPath, addr, String(port)], { stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = waitExit(child)
  let stderr = ''
  child.stderr!.on('data', (c: Buffer) => { stderr += c.toString() })
  let timer: NodeJS.Timeout | undefined
  try {
    await new Promise<void>((res, rej) => {
      timer = setTimeout(() => rej(new Error(`api bridge in ${ns} not listening within ${timeoutMs} ms: ${stderr}`)), timeoutMs)
      createInterface({ input: child.stdout! }).on('line', (l) => { if (l === 'ready') res() })
      void exited.then(({ code, signal }) => rej(new Error(`api bridge in ${ns} exited (${code ?? signal}): ${stderr}`)))
    })
    return { child, exited }
  } catch (err) {
    if (isAlive(child)) child.kill('SIGKILL')
    await exited
    throw err
  } finally {
    clearTimeout(timer)
  }
}
