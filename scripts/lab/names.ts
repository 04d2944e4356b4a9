// Names and addresses of a lab run, and which namespaces on the machine are leftovers of a run
// that died. Pure: the caller lists namespaces and says which processes are alive.

/** Every lab namespace name starts with this; the owner's pid and a random tag follow. */
export const LAB_PREFIX = 'mlab'
const RUN_NAME = /^mlab-(\d+)-([0-9a-f]{4,8})-(sw|h\d+)$/

/** The lab subnet. Only namespaces a run made ever hold these addresses (never the machine). */
export const SUBNET = '10.77.0'
export const SUBNET_BITS = 24
/** Each host's own address; the agent's libp2p and API ports are fixed (each host has its own ports). */
export const P2P_PORT = 7000
export const API_PORT = 7070

/**
 * One run's names. Two runs on one machine (several engineers, CI) never collide: the owner's
 * pid and a random tag are in every name, and every namespace holds its own 10.77.0.0/24, so
 * the same addresses in two runs never meet.
 */
export interface RunNames {
  /** `mlab-<pid>-<tag>`: the prefix of every namespace of this run. */
  prefix: string
  ownerPid: number
  /** The switch: a namespace holding only the bridge that joins the hosts. */
  switchNs: string
}

export function runNames(ownerPid: number, tag: string): RunNames {
  if (!/^[0-9a-f]{4,8}$/.test(tag)) throw new Error(`run tag '${tag}' must be 4-8 hex digits`)
  const prefix = `${LAB_PREFIX}-${ownerPid}-${tag}`
  return { prefix, ownerPid, switchNs: `${prefix}-sw` }
}

/** Host k (1-based): its namespace, node name, address and the switch port it hangs off. */
export interface HostNames {
  index: number
  name: string
  ns: string
  addr: string
  /** The veth end in the switch namespace (its link going down cuts the host off). */
  port: string
}

/** Hosts are h1..h250: .251-.254 stay free, .255 is the broadcast address. */
export const MAX_HOSTS = 250

export function hostNames(run: RunNames, index: number): HostNames {
  if (!Number.isInteger(index) || index < 1 || index > MAX_HOSTS) throw new Error(`host index ${index} is not within 1-${MAX_HOSTS}`)
  const name = `h${index}`
  return { index, name, ns: `${run.prefix}-${name}`, addr: `${SUBNET}.${index}`, port: `v${index}` }
}

/** `ip netns list` prints `name` or `name (id: N)` per line. */
export function parseNetnsList(text: string): string[] {
  return text.split('\n').map((l) => l.trim().split(/\s+/)[0] ?? '').filter((n) => n !== '')
}

/** The lab namespaces in a list, grouped by run prefix, with the pid that owns each run. */
export function labRuns(namespaces: readonly string[]): Map<string, { ownerPid: number; namespaces: string[] }> {
  const runs = new Map<string, { ownerPid: number; namespaces: string[] }>()
  for (const ns of namespaces) {
    const m = RUN_NAME.exec(ns)
    if (m === null) continue
    const prefix = `${LAB_PREFIX}-${m[1]}-${m[2]}`
    let run = runs.get(prefix)
    if (run === undefined) runs.set(prefix, run = { ownerPid: Number(m[1]), namespaces: [] })
    run.namespaces.push(ns)
  }
  return runs
}

/**
 * Runs whose owner is gone (crashed, SIGKILLed, a test worker that was killed): theirs to sweep.
 * A run whose owner lives is someone's running lab and is never touched. Hosts come before the
 * switch in each list, so a sweep removes the hosts first.
 */
export function leftoverRuns(namespaces: readonly string[], alive: (pid: number) => boolean): Array<{ prefix: string; namespaces: string[] }> {
  const out: Array<{ prefix: string; namespaces: string[] }> = []
  for (const [prefix, run] of labRuns(namespaces)) {
    if (alive(run.ownerPid)) continue
    out.push({ prefix, namespaces: [...run.namespaces].sort((a, b) => Number(a.endsWith('-sw')) - Number(b.endsWith('-sw')) || a.localeCompare(b)) })
  }
  return out
}
