// cgroup v2 plumbing: find out once whether we may make child groups with memory (and cpu)
// limits, then make, watch and remove one group per allocation. Nothing here spawns anything.
//
// Layout: <cgroupRoot>/<parent>/murmur-<agent pid>/<allocationId>. The per-agent level exists
// because cgroup v2 lets a group hand controllers to its children only while it holds no
// processes itself ("no internal processes"), and several agents may share one parent.
import { mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/** Kernel default CFS period (100 ms): quota is expressed per this period in cpu.max. */
const CPU_PERIOD_US = 100_000
/** The kernel rejects cpu.max quotas below 1 ms. */
const MIN_CPU_QUOTA_US = 1_000
/** Limit written to the throw-away probe group at detection: any valid value does. */
const PROBE_MEMORY_MAX = String(64 * 1024 * 1024)

export type CgroupProbe = { ok: true; tree: CgroupTree } | { ok: false; why: string }

function read(path: string): string | null {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return null
  }
}

function errText(err: unknown): string {
  const e = err as NodeJS.ErrnoException
  return e.code ? `${e.code}: ${e.message}` : String(err)
}

/** Writes one controller file, returning null on success or the error text. */
function tryWrite(path: string, value: string): string | null {
  try {
    writeFileSync(path, value)
    return null
  } catch (err) {
    return errText(err)
  }
}

/** Our own cgroup v2 path, from the `0::/path` line of /proc/self/cgroup. */
function ownCgroup(): string | null {
  const text = read('/proc/self/cgroup')
  const line = text?.split('\n').find((l) => l.startsWith('0::'))
  return line ? line.slice(3) : null
}

/** Controller lists are space-separated names; our fake cgroupfs in tests keeps the '+' we wrote. */
function listed(list: string | null, name: string): boolean {
  return (list ?? '').split(/\s+/).some((c) => c === name || c === `+${name}`)
}

/**
 * Checks, once at start, that cgroup v2 is mounted at root with the memory controller, that we may
 * make a group below `parent` (default: our own cgroup), delegate memory (and cpu if present) to it
 * and write memory.max in a child. Whatever it created on failure is removed again.
 */
export function probeCgroup(root: string, parent: string | undefined, agentPid: number): CgroupProbe {
  const controllers = read(join(root, 'cgroup.controllers'))
  if (controllers === null) return { ok: false, why: `no cgroup v2 at ${root} (no cgroup.controllers; cgroup v1 or hybrid host)` }
  if (!listed(controllers, 'memory')) {
    return { ok: false, why: `the memory controller is not available in ${root}/cgroup.controllers` }
  }
  const rel = parent ?? ownCgroup()
  if (rel === null) return { ok: false, why: 'cannot find our own cgroup in /proc/self/cgroup' }
  const base = join(root, rel)
  for (const ctl of ['memory', 'cpu']) {
    if (listed(read(join(base, 'cgroup.subtree_control')), ctl)) continue
    const err = tryWrite(join(base, 'cgroup.subtree_control'), `+${ctl}`)
    if (err && ctl === 'memory') {
      const hint = err.startsWith('EBUSY') ? '; a cgroup holding processes cannot delegate controllers: set cgroupParent to an empty delegated group' : ''
      return { ok: false, why: `cannot enable memory below ${base} (${err})${hint}` }
    }
  }
  const treeDir = join(base, `murmur-${agentPid}`)
  const probeDir = join(treeDir, 'probe')
  try {
    mkdirSync(treeDir, { recursive: true })
    const err = tryWrite(join(treeDir, 'cgroup.subtree_control'), '+memory')
    if (err) throw new Error(`enable memory in ${treeDir}: ${err}`)
    const cpu = tryWrite(join(treeDir, 'cgroup.subtree_control'), '+cpu') === null
    mkdirSync(probeDir, { recursive: true })
    const limitErr = tryWrite(join(probeDir, 'memory.max'), PROBE_MEMORY_MAX)
    if (limitErr) throw new Error(`write memory.max in ${probeDir}: ${limitErr}`)
    removeDir(probeDir)
    return { ok: true, tree: new CgroupTree(treeDir, cpu) }
  } catch (err) {
    removeDir(probeDir)
    removeDir(treeDir)
    return { ok: false, why: errText(err) }
  }
}

/** rmdir only: a cgroup directory is removed by rmdir once empty, never by deleting its files. */
function removeDir(dir: string): boolean {
  try {
    rmdirSync(dir)
    return true
  } catch {
    return false
  }
}

/** This agent's own group of allocation groups. */
export class CgroupTree {
  constructor(readonly dir: string, readonly cpuController: boolean) {}

  /** Makes the group for one allocation and writes its limits; throws when that fails. */
  createGroup(allocationId: string, memoryMb: number, cpu: number): AllocationCgroup {
    const dir = join(this.dir, allocationId)
    mkdirSync(dir, { recursive: true })
    const group = new AllocationCgroup(dir)
    try {
      writeFileSync(join(dir, 'memory.max'), String(Math.floor(memoryMb * 1024 * 1024)))
      // Best effort: memory.swap.max exists only with swap accounting; without it the job could
      // page out past its limit. memory.oom.group makes an OOM kill take the whole group, as
      // rss-poll mode does, instead of leaving a half-killed process tree.
      tryWrite(join(dir, 'memory.swap.max'), '0')
      tryWrite(join(dir, 'memory.oom.group'), '1')
      if (this.cpuController && cpu > 0) {
        const quota = Math.max(MIN_CPU_QUOTA_US, Math.round(cpu * CPU_PERIOD_US))
        writeFileSync(join(dir, 'cpu.max'), `${quota} ${CPU_PERIOD_US}`)
      }
    } catch (err) {
      group.remove()
      throw err
    }
    return group
  }

  /** Removes groups left empty (ours or by an earlier agent with the same pid), then the tree. */
  remove(): void {
    let children: string[] = []
    try {
      children = readdirSync(this.dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name)
    } catch {
      return
    }
    for (const child of children) removeDir(join(this.dir, child))
    removeDir(this.dir)
  }
}

/** One allocation's cgroup. */
export class AllocationCgroup {
  constructor(readonly dir: string) {}

  /** Moves a process in; its future children stay in the group. Throws on failure. */
  attach(pid: number): void {
    writeFileSync(join(this.dir, 'cgroup.procs'), String(pid))
  }

  /** How many processes the kernel OOM-killed in this group (memory.events oom_kill). */
  oomKills(): number {
    const m = /^oom_kill (\d+)$/m.exec(read(join(this.dir, 'memory.events')) ?? '')
    return m?.[1] ? Number(m[1]) : 0
  }

  /** SIGKILLs every process in the group, even those that left the process group (kernel 5.14+). */
  killAll(): boolean {
    return tryWrite(join(this.dir, 'cgroup.kill'), '1') === null
  }

  /** false once no process is left; null when the kernel does not say (no cgroup.events). */
  populated(): boolean | null {
    const m = /^populated ([01])$/m.exec(read(join(this.dir, 'cgroup.events')) ?? '')
    return m?.[1] === undefined ? null : m[1] === '1'
  }

  /** rmdir; fails (false) while a process is still in the group. */
  remove(): boolean {
    return removeDir(this.dir)
  }
}
