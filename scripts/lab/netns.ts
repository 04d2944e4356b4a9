// The network of a lab run, built with iproute2: a switch namespace holding a bridge, and one
// namespace per host hanging off it by a veth pair (../../shared/NOTES-lab.md has the measured
// recipe). Faults are real link and route changes. Nothing here touches the machine's own
// interfaces or routes: every command runs inside a namespace of the run, or creates one.
import { execFile, execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { promisify } from 'node:util'
import { parseNetnsList, SUBNET_BITS, type HostNames, type RunNames } from './names.js'

const run = promisify(execFile)
/** One ip/tc command; they take milliseconds, so a hung one (a wedged kernel lock) is a failure. */
const CMD_TIMEOUT_MS = 10_000

/** An ip or tc command failed: which one, and what it said. */
export class LabCommandError extends Error {
  override readonly name = 'LabCommandError'
}

export async function cmd(file: 'ip' | 'tc', args: string[]): Promise<string> {
  try {
    const { stdout } = await run(file, args, { timeout: CMD_TIMEOUT_MS })
    return stdout
  } catch (err) {
    const e = err as { stderr?: string; message?: string }
    throw new LabCommandError(`${file} ${args.join(' ')}: ${(e.stderr ?? e.message ?? String(err)).trim()}`)
  }
}

/** Runs `ip ...` inside namespace `ns`. */
export function ipIn(ns: string, args: string[]): Promise<string> {
  return cmd('ip', ['-n', ns, ...args])
}

/** Runs `tc ...` inside namespace `ns`. */
export function tcIn(ns: string, args: string[]): Promise<string> {
  return cmd('ip', ['netns', 'exec', ns, 'tc', ...args])
}

export async function listNamespaces(): Promise<string[]> {
  return parseNetnsList(await cmd('ip', ['netns', 'list']))
}

export function listNamespacesSync(): string[] {
  return parseNetnsList(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8', timeout: CMD_TIMEOUT_MS }))
}

/**
 * Can this process build a lab? Needs root and working network namespaces; the answer says what
 * is missing. It makes (and removes) one namespace named after the caller's pid.
 */
export async function labSupport(): Promise<{ ok: true } | { ok: false; why: string }> {
  if (process.platform !== 'linux') return { ok: false, why: `network namespaces are Linux only (this is ${process.platform})` }
  if (process.getuid?.() !== 0) return { ok: false, why: 'building network namespaces needs root' }
  try {
    await cmd('tc', ['-V'])
  } catch (err) {
    return { ok: false, why: `tc (iproute2) is missing: ${err instanceof Error ? err.message : String(err)}` }
  }
  const probe = `mlab-probe-${process.pid}`
  try {
    await cmd('ip', ['netns', 'add', probe])
    await ipIn(probe, ['link', 'add', 'br0', 'type', 'bridge'])
  } catch (err) {
    return { ok: false, why: `ip netns does not work here: ${err instanceof Error ? err.message : String(err)}` }
  } finally {
    await cmd('ip', ['netns', 'del', probe]).catch(() => undefined)
  }
  return { ok: true }
}

/** The switch: a bridge that floods multicast to every port (snooping off, or mDNS never arrives). */
export async function createSwitch(names: RunNames): Promise<void> {
  await cmd('ip', ['netns', 'add', names.switchNs])
  await ipIn(names.switchNs, ['link', 'add', 'br0', 'type', 'bridge', 'mcast_snooping', '0'])
  await ipIn(names.switchNs, ['link', 'set', 'br0', 'up'])
}

/**
 * One host: its namespace, a veth pair (eth0 inside, its port on the bridge), its address, and a
 * multicast route (mDNS needs one; there is no default route, so nothing leaves the lab).
 */
export async function createHost(names: RunNames, host: HostNames): Promise<void> {
  await cmd('ip', ['netns', 'add', host.ns])
  await cmd('ip', ['link', 'add', host.port, 'netns', names.switchNs, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host.ns])
  await ipIn(names.switchNs, ['link', 'set', host.port, 'master', 'br0', 'up'])
  await ipIn(host.ns, ['addr', 'add', `${host.addr}/${SUBNET_BITS}`, 'dev', 'eth0'])
  await ipIn(host.ns, ['link', 'set', 'eth0', 'up', 'multicast', 'on'])
  await ipIn(host.ns, ['link', 'set', 'lo', 'up'])
  await ipIn(host.ns, ['route', 'add', '224.0.0.0/4', 'dev', 'eth0'])
}

/** Cut a host off both ways (its switch port down: packets time out, nothing is refused), or back. */
export async function setPort(names: RunNames, host: HostNames, up: boolean): Promise<void> {
  await ipIn(names.switchNs, ['link', 'set', host.port, up ? 'up' : 'down'])
}

/** `from` can no longer send to `to` (to -> from still arrives), or can again. */
export async function setBlackhole(from: HostNames, to: HostNames, on: boolean): Promise<void> {
  await ipIn(from.ns, ['route', on ? 'add' : 'del', 'blackhole', `${to.addr}/32`])
}

/** A bandwidth-limited link (token bucket), both ways: the host's eth0 and its switch port. */
export interface SlowLink {
  rateKbit: number
  burstKbit: number
  latencyMs: number
}

export const ONE_MBIT: SlowLink = { rateKbit: 1000, burstKbit: 32, latencyMs: 400 }

export async function setSlow(names: RunNames, host: HostNames, link: SlowLink | null): Promise<void> {
  const ends: Array<[string, string]> = [[host.ns, 'eth0'], [names.switchNs, host.port]]
  for (const [ns, dev] of ends) {
    if (link === null) await tcIn(ns, ['qdisc', 'del', 'dev', dev, 'root']).catch(() => undefined)
    else await tcIn(ns, ['qdisc', 'replace', 'dev', dev, 'root', 'tbf', 'rate', `${link.rateKbit}kbit`, 'burst', `${link.burstKbit}kbit`, 'latency', `${link.latencyMs}ms`])
  }
}

/** The pids of every process in a namespace (agent, its jobs, the API bridge); [] when it is gone. */
export function pidsIn(ns: string): number[] {
  try {
    return parsePids(execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: CMD_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'ignore'] }))
  } catch {
    return []
  }
}

async function pidsInAsync(ns: string): Promise<number[]> {
  try {
    return parsePids(await cmd('ip', ['netns', 'pids', ns]))
  } catch {
    return []
  }
}

function parsePids(text: string): number[] {
  return text.split('\n').map(Number).filter((p) => Number.isInteger(p) && p > 0)
}

function killAll(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
}

/** A SIGKILLed process leaves its namespace once the kernel reaps it: this long at most. */
const KILL_WAIT_MS = 5_000

/**
 * SIGKILLs every process in the namespaces (all of them first, then one bounded wait), then
 * deletes the namespaces in order. Returns those that could not be removed. Asynchronous, so
 * the process stays responsive (a wrapper such as tsx SIGKILLs a child that does not answer
 * its signal relay within milliseconds).
 */
export async function destroyNamespaces(namespaces: readonly string[]): Promise<string[]> {
  const until = Date.now() + KILL_WAIT_MS
  for (;;) {
    const pids = (await Promise.all(namespaces.map(pidsInAsync))).flat().filter(isRunning)
    if (pids.length === 0 || Date.now() > until) break
    killAll(pids)
    await new Promise((r) => setTimeout(r, 20))
  }
  for (const ns of namespaces) await cmd('ip', ['netns', 'del', ns]).catch(() => undefined)
  const left = await listNamespaces()
  return namespaces.filter((n) => left.includes(n))
}

/** destroyNamespaces, synchronously: for an exit handler, where nothing asynchronous runs any more. */
export function destroyNamespacesSync(namespaces: readonly string[]): string[] {
  const until = Date.now() + KILL_WAIT_MS
  for (;;) {
    const pids = namespaces.flatMap(pidsIn).filter(isRunning)
    if (pids.length === 0 || Date.now() > until) break
    killAll(pids)
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20)
  }
  for (const ns of namespaces) {
    try {
      execFileSync('ip', ['netns', 'del', ns], { timeout: CMD_TIMEOUT_MS, stdio: 'ignore' })
    } catch {
      // not there, or busy: the check below says which
    }
  }
  const left = listNamespacesSync()
  return namespaces.filter((n) => left.includes(n))
}

/** A pid that exists and is not a zombie (a zombie runs nothing; its parent reaps it). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    return !/^\d+ \(.*\) Z/s.test(readProcStat(pid))
  } catch {
    return false
  }
}

function readProcStat(pid: number): string {
  return readFileSync(`/proc/${pid}/stat`, 'utf8')
}
