// A lab: hosts made of network namespaces on one bridge, one murmur agent per host on its own
// address with mDNS on and no --join (as a user starts them on a LAN), real faults on the links
// (a cut, one-way loss, a slow link) and on the processes (kill, freeze), and a teardown that
// always removes every namespace and process of the run. Scripts (`npm run lab`) and the lab
// test tier drive it through this class; it logs every action it takes, with the time.
import { randomBytes } from 'node:crypto'
import { mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import type { Job } from '../../test/support/jobs.js'
import { isAlive, startAgentIn, startBridgeIn, type Exit, type LabAgent } from './agent-process.js'
import { apiGet, apiRequest, type ApiAnswer, type ApiTarget } from './http.js'
import { API_PORT, hostNames, P2P_PORT, runNames, type HostNames, type RunNames } from './names.js'
import { tcpConnect, throughputKbit } from './net-checks.js'
import { createHost, createSwitch, destroyNamespaces, destroyNamespacesSync, labSupport, pidsIn, setBlackhole, setPort, setSlow, type SlowLink } from './netns.js'
import { allocIdsOf, readRuns, type Run } from './runs.js'
import { leftoversOf, RUNS_ROOT, sweepLeftovers, type Leftovers } from './teardown.js'

/** A node as an agent's GET /v1/nodes shows it. */
export interface LabNode {
  id: string
  name: string
  state: string
  incarnation?: number
  lastSeenMs: number
  allocations?: number
  resources?: { total: { cpu: number; memoryMb: number }; free: { cpu: number; memoryMb: number } }
}

export interface LabOptions {
  /** Where data dirs, logs and sockets go (default: RUNS_ROOT/<prefix>). */
  runDir?: string
  /** Keep the run dir after the teardown (the agents' logs and data); default: removed. */
  keep?: boolean
  /** Every action, as it is taken. */
  log?: (line: string) => void
  /** The agents' failure-detector profile (default lan: what a user runs). */
  profile?: 'lan' | 'test'
}

/** What a host declares and how its link is. */
export interface HostOptions {
  cpu?: number
  memoryMb?: number
  /** Extra agent labels; every agent also gets `lab.host=<name>`. */
  labels?: Record<string, string>
  /** A bandwidth-limited link from the start (before its agent joins). */
  slow?: SlowLink
}

/** One action the lab took, for the report. */
export interface LabAction { at: number; what: string }

interface Host {
  names: HostNames
  opts: HostOptions
  dataDir: string
  logFile: string
  api: ApiTarget
  bridge: { exited: Promise<Exit> } | null
  agent: LabAgent | null
}

const AGENT_READY_MS = 60_000
const BRIDGE_READY_MS = 10_000
/** A SIGTERMed agent drains (at most its --drain-timeout, 0 here) and leaves; longer is a hang. */
const STOP_LIMIT_MS = 15_000

/**
 * The environment variable naming a session of labs (4 hex digits, put first in each lab's tag):
 * a test run sets it, so that after its last test it can tell its own labs from others'.
 */
export const LAB_SESSION_ENV = 'MURMUR_LAB_SESSION'

function labSession(): string {
  const s = process.env[LAB_SESSION_ENV]
  return s !== undefined && /^[0-9a-f]{4}$/.test(s) ? s : ''
}

export class Lab {
  readonly names: RunNames
  readonly runDir: string
  /** The API token every agent of the run requires (their APIs listen on lab addresses). */
  readonly token = randomBytes(16).toString('hex')
  readonly actions: LabAction[] = []
  private readonly hosts = new Map<string, Host>()
  private readonly started = Date.now()
  private tornDown = false
  private readonly onExit = (): void => {
    this.teardownNow()
    if (!this.opts.keep) rmSync(this.runDir, { recursive: true, force: true })
  }

  private constructor(names: RunNames, private readonly opts: LabOptions) {
    this.names = names
    this.runDir = opts.runDir ?? join(RUNS_ROOT, names.prefix)
  }

  /**
   * A new lab with its switch and no hosts yet. Throws, with the reason, where labs cannot be
   * built (not root, no netns). Removes the leftovers of earlier runs whose owner is gone first.
   */
  static async create(opts: LabOptions = {}): Promise<Lab> {
    const support = await labSupport()
    if (!support.ok) throw new Error(`cannot build a lab here: ${support.why}`)
    const lab = new Lab(runNames(process.pid, `${labSession()}${randomBytes(2).toString('hex')}`), opts)
    sweepLeftovers((l) => lab.did(l))
    mkdirSync(lab.runDir, { recursive: true })
    // A crash or process.exit() between here and teardown() still removes the lab.
    process.once('exit', lab.onExit)
    try {
      await createSwitch(lab.names)
    } catch (err) {
      await lab.teardown()
      throw err
    }
    lab.did(`lab ${lab.names.prefix}: switch ${lab.names.switchNs}, run dir ${lab.runDir}`)
    return lab
  }

  /** Logs an action with the time since the lab was created. */
  did(what: string): void {
    const at = Date.now()
    this.actions.push({ at, what })
    this.opts.log?.(`[lab +${((at - this.started) / 1000).toFixed(2)}s] ${what}`)
  }

  hostNamesList(): string[] {
    return [...this.hosts.keys()]
  }

  private host(name: string): Host {
    const h = this.hosts.get(name)
    if (h === undefined) throw new Error(`no host ${name} in lab ${this.names.prefix}`)
    return h
  }

  /** The names (namespace, address, switch port) of a host. */
  hostInfo(name: string): HostNames {
    return this.host(name).names
  }

  /** Adds the next host (h1, h2, ...): its namespace, link, address and API bridge. No agent yet. */
  async addHost(opts: HostOptions = {}): Promise<string> {
    const names = hostNames(this.names, this.hosts.size + 1)
    const dir = join(this.runDir, names.name)
    mkdirSync(dir, { recursive: true })
    const host: Host = {
      names, opts, dataDir: join(dir, 'data'), logFile: join(dir, 'agent.log'),
      api: { socketPath: join(dir, 'api.sock'), token: this.token, host: names.name }, bridge: null, agent: null,
    }
    this.hosts.set(names.name, host)
    await createHost(this.names, names)
    if (opts.slow !== undefined) await setSlow(this.names, names, opts.slow)
    host.bridge = await startBridgeIn(names.ns, host.api.socketPath, names.addr, API_PORT, BRIDGE_READY_MS)
    this.did(`host ${names.name}: namespace ${names.ns}, ${names.addr}${opts.slow === undefined ? '' : `, link ${opts.slow.rateKbit} kbit/s`}`)
    return names.name
  }

  async addHosts(n: number, opts: HostOptions = {}): Promise<string[]> {
    const out: string[] = []
    for (let i = 0; i < n; i++) out.push(await this.addHost(opts))
    return out
  }

  /** The agent's flags: its own address for libp2p and the API, mDNS on (the default), no --join. */
  agentArgs(name: string): string[] {
    const h = this.host(name)
    const labels = { 'lab.host': name, ...h.opts.labels }
    return [
      '--name', name, '--data-dir', h.dataDir,
      '--p2p-host', h.names.addr, '--p2p-port', String(P2P_PORT),
      '--api-host', h.names.addr, '--api-port', String(API_PORT), '--api-token', this.token,
      '--cpu', String(h.opts.cpu ?? 2), '--mem', String(h.opts.memoryMb ?? 1024),
      ...Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
      '--profile', this.opts.profile ?? 'lan', '--log-level', 'info', '--drain-timeout', '0',
    ]
  }

  /** Starts (or restarts, on its data dir) the host's agent; resolves once it is ready. */
  async start(name: string): Promise<LabAgent> {
    const h = this.host(name)
    if (h.agent !== null && isAlive(h.agent.child)) throw new Error(`${name}: its agent already runs (pid ${h.agent.pid})`)
    const agent = await startAgentIn(h.names.ns, name, this.agentArgs(name), h.logFile, AGENT_READY_MS)
    h.agent = agent
    this.did(`agent ${name} ready (pid ${agent.pid}, peer ${agent.peer.slice(-8)}) in ${agent.readyAt - agent.spawnedAt} ms`)
    return agent
  }

  async startAll(names: readonly string[] = this.hostNamesList()): Promise<LabAgent[]> {
    return await Promise.all(names.map((n) => this.start(n)))
  }

  agent(name: string): LabAgent {
    const a = this.host(name).agent
    if (a === null) throw new Error(`${name}: no agent was started`)
    return a
  }

  /** Hosts whose agent process is running (frozen ones included). */
  running(): string[] {
    return [...this.hosts.values()].filter((h) => h.agent !== null && isAlive(h.agent.child)).map((h) => h.names.name)
  }

  // --- process faults -----------------------------------------------------------------------------

  async kill(name: string): Promise<void> {
    const a = this.agent(name)
    a.child.kill('SIGKILL')
    await a.exited
    this.did(`kill -KILL agent ${name}`)
  }

  freeze(name: string): void {
    this.agent(name).child.kill('SIGSTOP')
    this.did(`kill -STOP agent ${name}`)
  }

  thaw(name: string): void {
    this.agent(name).child.kill('SIGCONT')
    this.did(`kill -CONT agent ${name}`)
  }

  /** SIGTERM (drain 0 s, leave), SIGKILL after STOP_LIMIT_MS. */
  async stop(name: string): Promise<Exit> {
    const a = this.agent(name)
    a.child.kill('SIGCONT')
    a.child.kill('SIGTERM')
    let timer: NodeJS.Timeout | undefined
    const hung = await Promise.race([a.exited.then(() => false), new Promise<boolean>((r) => { timer = setTimeout(() => r(true), STOP_LIMIT_MS) })])
    clearTimeout(timer)
    if (hung) a.child.kill('SIGKILL')
    const exit = await a.exited
    this.did(`stop agent ${name}${hung ? ` (no exit within ${STOP_LIMIT_MS} ms of SIGTERM: SIGKILLed)` : ''}`)
    return exit
  }

  // --- network faults -----------------------------------------------------------------------------

  /** Each named host loses its link: cut off from every other host, both ways. */
  async cut(...names: string[]): Promise<void> {
    for (const n of names) await setPort(this.names, this.host(n).names, false)
    this.did(`cut ${names.join(', ')} off (switch port down)`)
  }

  async reconnect(...names: string[]): Promise<void> {
    for (const n of names) await setPort(this.names, this.host(n).names, true)
    this.did(`reconnect ${names.join(', ')} (switch port up)`)
  }

  /** `from` can no longer send to `to`; `to` -> `from` still arrives. */
  async block(from: string, to: string): Promise<void> {
    await setBlackhole(this.host(from).names, this.host(to).names, true)
    this.did(`block ${from} -> ${to} (blackhole route in ${from})`)
  }

  async unblock(from: string, to: string): Promise<void> {
    await setBlackhole(this.host(from).names, this.host(to).names, false)
    this.did(`unblock ${from} -> ${to}`)
  }

  /** Two groups that cannot reach each other, while each group's hosts still reach one another. */
  async partition(a: readonly string[], b: readonly string[]): Promise<void> {
    for (const x of a) for (const y of b) { await setBlackhole(this.host(x).names, this.host(y).names, true); await setBlackhole(this.host(y).names, this.host(x).names, true) }
    this.did(`partition {${a.join(', ')}} | {${b.join(', ')}}`)
  }

  async unpartition(a: readonly string[], b: readonly string[]): Promise<void> {
    for (const x of a) for (const y of b) { await setBlackhole(this.host(x).names, this.host(y).names, false); await setBlackhole(this.host(y).names, this.host(x).names, false) }
    this.did(`heal partition {${a.join(', ')}} | {${b.join(', ')}}`)
  }

  /** A bandwidth-limited link both ways, or (null) the link as it was. */
  async slow(name: string, link: SlowLink | null): Promise<void> {
    await setSlow(this.names, this.host(name).names, link)
    this.did(link === null ? `${name}: link back to full speed` : `${name}: link limited to ${link.rateKbit} kbit/s both ways`)
  }

  /** A plain TCP connect from one host to another (`connected`, `refused`, `timeout`, `error EINVAL`...). */
  tcpConnect(from: string, to: string, port = P2P_PORT): Promise<string> {
    return tcpConnect(this.host(from).names, this.host(to).names, port)
  }

  /** The rate at which `bytes` flow from one host to another over TCP, in kbit/s. */
  throughputKbit(from: string, to: string, bytes: number): Promise<number> {
    return throughputKbit(this.host(from).names, this.host(to).names, bytes)
  }

  // --- the API ------------------------------------------------------------------------------------

  api(name: string): ApiTarget {
    return this.host(name).api
  }

  request<T = unknown>(name: string, method: string, path: string, opts: { body?: unknown; timeoutMs?: number; headers?: Record<string, string> } = {}): Promise<ApiAnswer<T>> {
    return apiRequest<T>(this.api(name), method, path, opts)
  }

  async nodes(name: string, timeoutMs?: number): Promise<LabNode[]> {
    return (await apiGet<{ nodes: LabNode[] }>(this.api(name), '/v1/nodes', timeoutMs)).nodes
  }

  /** The job as `name` sees it; undefined on 404. */
  async job(name: string, id: string): Promise<Job | undefined> {
    const res = await this.request<Job>(name, 'GET', `/v1/jobs/${encodeURIComponent(id)}`)
    if (res.status === 404) return undefined
    if (res.status !== 200) throw new Error(`${name} GET job ${id}: HTTP ${res.status} ${JSON.stringify(res.body)}`)
    return res.body
  }

  /** Submits a job through `name`; returns its id (throws unless 201). */
  async submit(name: string, spec: unknown): Promise<string> {
    const res = await this.request<{ id?: string }>(name, 'POST', '/v1/jobs', { body: spec, timeoutMs: 20_000 })
    if (res.status !== 201 || typeof res.body.id !== 'string') throw new Error(`submit via ${name}: HTTP ${res.status} ${JSON.stringify(res.body)}`)
    this.did(`submitted job ${res.body.id} via ${name}`)
    return res.body.id
  }

  // --- ground truth -------------------------------------------------------------------------------

  /** Every run of a lab service (runs.ts beatingCommand) on every host, from its files. */
  runs(): Run[] {
    return readRuns(new Map([...this.hosts.values()].map((h) => [h.names.name, h.dataDir])))
  }

  /** Per host, the allocation ids of the job processes running in its namespace right now. */
  liveAllocs(): Map<string, Set<string>> {
    return new Map([...this.hosts.values()].map((h) => [h.names.name, allocIdsOf(pidsIn(h.names.ns))]))
  }

  // --- the end ------------------------------------------------------------------------------------

  /**
   * Removes everything of the run: every process in its namespaces (agents, their jobs, the
   * bridges) is SIGKILLed, the namespaces deleted, the run dir removed unless kept. Returns what
   * is still there (nothing, normally). Safe to call twice.
   */
  async teardown(): Promise<Leftovers> {
    if (!this.tornDown) {
      const children = [...this.hosts.values()].flatMap((h) => [h.agent?.exited, h.bridge?.exited]).filter((p) => p !== undefined)
      const stuck = await destroyNamespaces(this.namespaces())
      // Only now: an exit meanwhile (a second Ctrl-C) still runs the exit handler's teardown.
      this.tornDown = true
      this.didTeardown(stuck)
      // Every child we spawned was in a namespace and is gone now; wait (bounded) for their exits.
      let timer: NodeJS.Timeout | undefined
      await Promise.race([Promise.all(children), new Promise((r) => { timer = setTimeout(r, 5_000) })])
      clearTimeout(timer)
    }
    const left = leftoversOf(this.names.prefix, this.runDir)
    if (!this.opts.keep) rmSync(this.runDir, { recursive: true, force: true })
    process.removeListener('exit', this.onExit)
    return left
  }

  /** Hosts first, the switch last. */
  private namespaces(): string[] {
    return [...[...this.hosts.values()].map((h) => h.names.ns), this.names.switchNs]
  }

  private didTeardown(stuck: readonly string[]): void {
    this.did(`teardown: removed ${this.namespaces().length - stuck.length} namespace(s)${stuck.length > 0 ? `; could not remove ${stuck.join(', ')}` : ''}`)
  }

  /** The exit handler's teardown: synchronous, since nothing asynchronous runs during 'exit'. */
  private teardownNow(): void {
    if (this.tornDown) return
    this.tornDown = true
    process.removeListener('exit', this.onExit)
    this.didTeardown(destroyNamespacesSync(this.namespaces()))
  }
}
