// A driver for transcript tests (test/unit/transcripts.test.ts): real NodeCores on the simulated
// network (SimCluster), run from a script of commands, printing every job protocol message in
// order as a line of a sequence diagram. Commands (one per block of a test/unit/testdata file):
//
//   cluster seed=1                      a new cluster (before the first start; default seed 1)
//   start n1..n5 [cpu=4] [mem=4096] [labels=zone:b]
//   converge [max=5s] [settle=0ms]      run until every node sees every live node alive, then
//                                       `settle` more (away from the phase of periodic work); the
//                                       message log starts afresh, and times count from there
//   submit via=n4 job=j1 [count=1] [type=batch|service] [ms=50] [exit=0] [cpu=0.5] [mem=128]
//          [on=zone:b] [attempts=2]     (a submit with an idempotency key: it keeps its id)
//   cancel via=n2 job=j1
//   run 100ms | run 2s
//   run-until job=j1 state=succeeded [max=10s]   (on every storing node)
//   run-until job=j1 runs=1 [max=10s]            (simulated processes started)
//   kill n2 | restart n2 | freeze n2 | thaw n2
//   drop from=n1 to=n3 type=start [count=1]      requests lost on the wire (any field may be left out)
//   drop-reply from=n3 to=n1 type=ok [count=1]   answers lost on the wire
//   crash-on-send from=n1 to=n5 type=start       the sender dies as the request leaves; it is lost
//   heal                                         no more drops
//   show all | show jobs                         membership messages too, or job messages only (default)
//   print messages                      what happened since the last print
//   print job j1 on n1 | print storing j1 | print runs j1
//
// Output lines: `<ms> <from> -> <to>  <message>` for a request, `... (re <type>)` for its answer,
// `-x` for a request that failed, `=> *` for gossip, and the runs, faults and API answers.
import type { GossipMessage, Millis, NodeId, RpcFailure, RpcRequest, RpcResponse } from '../../src/core/types.js'
import { SimCluster, simSpec } from '../../src/sim/sim-cluster.js'
import { MEMBERSHIP_TYPES, describeGossip, describeReply, describeRequest, status } from './transcript-print.js'

interface DropRule {
  what: 'send' | 'reply' | 'crash'
  from?: string
  to?: string
  type?: string
  left: number
}

/** A command's arguments: `key=value` pairs and the words without `=`, in order. */
interface Args {
  words: string[]
  kv: Map<string, string>
}

function parseArgs(tokens: readonly string[]): Args {
  const words: string[] = []
  const kv = new Map<string, string>()
  for (const t of tokens) {
    const eq = t.indexOf('=')
    if (eq > 0) kv.set(t.slice(0, eq), t.slice(eq + 1))
    else words.push(t)
  }
  return { words, kv }
}

/** `250ms`, `2s`, `1m` in ms. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(text)
  if (m === null) throw new Error(`"${text}" is not a duration (250ms, 2s, 1m)`)
  return Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 's' ? 1_000 : 60_000)
}

/** `n1..n5` -> n1, n2, n3, n4, n5; other words as they are. */
function expandNodes(words: readonly string[]): string[] {
  return words.flatMap((w) => {
    const m = /^([a-z]+)(\d+)\.\.\1?(\d+)$/.exec(w)
    if (m === null) return [w]
    const [from, to] = [Number(m[2]), Number(m[3])]
    if (to < from || to - from > 100) throw new Error(`bad node range ${w}`)
    return Array.from({ length: to - from + 1 }, (_, i) => `${m[1]}${from + i}`)
  })
}

export class TranscriptDriver {
  private simOrNull: SimCluster | null = null
  private seed = 1
  private epoch: Millis = 0
  private showAll = false
  private log: string[] = []
  /** What each node sent (`node#corr`): the type its answer is printed with, and whether it is shown. */
  private readonly sent = new Map<string, { type: string; shown: boolean }>()
  /** The log line of the request (or answer) just handed to the network, which a drop rule may mark lost. */
  private lastLine = -1
  private readonly apiRequests = new Map<number, string>()
  private rules: DropRule[] = []
  private readonly deadSeen = new Set<string>()

  /** Run one command; returns the lines it prints. */
  exec(command: string): string[] {
    const [verb, ...rest] = command.trim().split(/\s+/)
    const args = parseArgs(rest)
    switch (verb) {
      case 'cluster': return this.cluster(args)
      case 'start': return this.start(args)
      case 'converge': return this.converge(args)
      case 'submit': return this.submit(args)
      case 'cancel': return this.cancel(args)
      case 'run': this.sim.run(parseDuration(this.word(args, 0, 'a duration'))); return []
      case 'run-until': return this.runUntil(args)
      case 'kill': case 'restart': case 'freeze': case 'thaw': return this.fault(verb, args)
      case 'drop': case 'drop-reply': case 'crash-on-send': return this.drop(verb, args)
      case 'heal': this.rules = []; return []
      case 'show': return this.show(args)
      case 'print': return this.print(args)
      default: throw new Error(`unknown command "${verb ?? ''}"`)
    }
  }

  private get sim(): SimCluster {
    if (this.simOrNull === null) this.simOrNull = this.newCluster()
    return this.simOrNull
  }

  private newCluster(): SimCluster {
    // Equal 1 ms links without jitter: the times in a transcript read as hops.
    const sim = new SimCluster({ seed: this.seed, latencyMs: 1, jitterMs: 0 })
    this.epoch = sim.now
    sim.hooks.onSend = (at, from, to, msg, corr) => this.onSend(at, from, to, msg, corr)
    sim.hooks.onReply = (at, from, to, msg, corr) => this.onReply(at, from, to, msg, corr)
    sim.hooks.onFail = (at, node, to, corr, reason) => this.onFail(at, node, to, corr, reason)
    sim.hooks.dropSend = (at, from, to, msg) => this.dropped(at, ['send', 'crash'], from, to, msg.type)
    sim.hooks.dropReply = (at, from, to, msg) => this.dropped(at, ['reply'], from, to, msg.type)
    sim.hooks.onPublish = (at, from, msg) => this.onPublish(at, from, msg)
    sim.hooks.onRunStart = (run) => this.line(run.startedAt, `${run.node} runs ${run.allocId}`)
    sim.hooks.onApiReply = (at, reqId, reply) => {
      const what = this.apiRequests.get(reqId)
      if (what !== undefined) this.line(at, `api ${what}: ${reply.status}${apiError(reply.body)}`)
    }
    sim.hooks.onEmit = (at, _observer, event) => {
      // The first node to declare another dead (each one does; one line says it happened).
      if (event.type !== 'node' || event.to !== 'dead') return
      const key = `${event.node}/${event.incarnation}`
      if (this.deadSeen.has(key)) return
      this.deadSeen.add(key)
      this.line(at, `${_observer} declares ${event.name} dead`)
    }
    return sim
  }

  private line(at: Millis, text: string): number {
    this.log.push(`${`${Math.round(at - this.epoch)}ms`.padStart(7)} ${text}`)
    return this.log.length - 1
  }

  private word(args: Args, i: number, what: string): string {
    const w = args.words[i]
    if (w === undefined) throw new Error(`missing ${what}`)
    return w
  }

  private need(args: Args, key: string): string {
    const v = args.kv.get(key)
    if (v === undefined) throw new Error(`missing ${key}=`)
    return v
  }

  private num(args: Args, key: string, fallback: number): number {
    const v = args.kv.get(key)
    if (v === undefined) return fallback
    const n = Number(v)
    if (!Number.isFinite(n)) throw new Error(`${key}=${v} is not a number`)
    return n
  }

  // --- commands -------------------------------------------------------------------------------------

  private cluster(args: Args): string[] {
    if (this.simOrNull !== null) throw new Error('cluster must come before the first start')
    this.seed = this.num(args, 'seed', 1)
    this.simOrNull = this.newCluster()
    return []
  }

  private start(args: Args): string[] {
    const names = expandNodes(args.words)
    if (names.length === 0) throw new Error('start what? (start n1..n5)')
    const total = { cpu: this.num(args, 'cpu', 4), memoryMb: this.num(args, 'mem', 4096) }
    const labels = Object.fromEntries((args.kv.get('labels') ?? '').split(',').filter((l) => l !== '').map((l) => l.split(':') as [string, string]))
    for (const n of names) this.sim.start(n, n, total, labels)
    return []
  }

  private converge(args: Args): string[] {
    const sim = this.sim
    const max = parseDuration(args.kv.get('max') ?? '5s')
    const live = sim.liveIds()
    const took = sim.runUntilTrue(() => live.every((o) => sim.core(o).records().filter((r) => r.state === 'alive').length === live.length), max)
    const settle = parseDuration(args.kv.get('settle') ?? '0ms')
    sim.run(settle)
    this.log = []
    this.epoch = sim.now
    return [`every node sees ${live.length} alive after ${took} ms${settle > 0 ? `, then ${settle} ms more` : ''}; times count from here`]
  }

  private submit(args: Args): string[] {
    const via = this.need(args, 'via')
    const id = this.need(args, 'job')
    const on = args.kv.get('on')
    const spec = simSpec({
      count: this.num(args, 'count', 1),
      type: args.kv.get('type') === 'service' ? 'service' : 'batch',
      resources: { cpu: this.num(args, 'cpu', 0.5), memoryMb: this.num(args, 'mem', 128) },
      env: { SIM_DURATION_MS: String(this.num(args, 'ms', 50)), SIM_EXIT_CODE: String(this.num(args, 'exit', 0)) },
      restart: { attempts: this.num(args, 'attempts', 2), backoffMs: 100 },
      constraints: on === undefined ? [] : [{ label: on.split(':')[0] as string, op: '=', value: on.split(':')[1] ?? '' }],
    })
    const reqId = this.sim.submit(via, id, spec, false)
    this.apiRequests.set(reqId, `submit ${id} via ${via}`)
    return []
  }

  private cancel(args: Args): string[] {
    const via = this.need(args, 'via')
    const id = this.need(args, 'job')
    this.apiRequests.set(this.sim.cancel(via, id), `cancel ${id} via ${via}`)
    return []
  }

  private runUntil(args: Args): string[] {
    const sim = this.sim
    const job = this.need(args, 'job')
    const max = parseDuration(args.kv.get('max') ?? '10s')
    const state = args.kv.get('state')
    if (state !== undefined) {
      const took = sim.runUntilTrue(() => sim.statesOnStoring(job).every((s) => s === state), max)
      return [`${job}: ${state} on every storing node, ${took} ms later`]
    }
    const runs = this.num(args, 'runs', NaN)
    if (Number.isNaN(runs)) throw new Error('run-until needs state= or runs=')
    const took = sim.runUntilTrue(() => sim.runs.filter((r) => r.jobId === job).length >= runs, max)
    return [`${job}: ${runs} run${runs === 1 ? '' : 's'} started, ${took} ms later`]
  }

  private fault(verb: 'kill' | 'restart' | 'freeze' | 'thaw', args: Args): string[] {
    for (const n of expandNodes(args.words)) {
      this.sim[verb](n)
      this.line(this.sim.now, `${n} ${verb === 'kill' ? 'killed' : verb === 'restart' ? 'restarted' : verb === 'freeze' ? 'frozen' : 'thawed'}`)
    }
    return []
  }

  private drop(verb: 'drop' | 'drop-reply' | 'crash-on-send', args: Args): string[] {
    const rule: DropRule = { what: verb === 'drop' ? 'send' : verb === 'drop-reply' ? 'reply' : 'crash', left: this.num(args, 'count', verb === 'crash-on-send' ? 1 : Infinity) }
    for (const k of ['from', 'to', 'type'] as const) {
      const v = args.kv.get(k)
      if (v !== undefined) rule[k] = v
    }
    this.rules.push(rule)
    return []
  }

  private show(args: Args): string[] {
    const what = this.word(args, 0, 'all or jobs')
    if (what !== 'all' && what !== 'jobs') throw new Error(`show ${what}? (all or jobs)`)
    this.showAll = what === 'all'
    return []
  }

  private print(args: Args): string[] {
    const sim = this.sim
    const what = this.word(args, 0, 'what to print')
    if (what === 'messages') {
      const out = this.log.length === 0 ? ['(none)'] : this.log
      this.log = []
      return out
    }
    const job = this.word(args, 1, 'a job id')
    if (what === 'storing') {
      const [arbiter, ...others] = sim.storing(job)
      return [`${job} is stored on ${arbiter ?? '(nobody)'} (its arbiter)${others.map((o) => `, ${o}`).join('')}`]
    }
    if (what === 'job') {
      if (args.words[2] !== 'on') throw new Error('print job <id> on <node>')
      const node = this.word(args, 3, 'a node')
      const s = sim.core(node).jobStatus(job)
      return [`${job} on ${node}: ${s === undefined ? 'not held' : status(s)}`]
    }
    if (what === 'runs') {
      const runs = sim.runs.filter((r) => r.jobId === job)
      if (runs.length === 0) return ['(no runs)']
      return runs.map((r) => `${r.allocId} on ${r.node}: from ${r.startedAt - this.epoch}ms ${r.endedAt === null ? 'running' : `to ${r.endedAt - this.epoch}ms, ${r.exitCode === null ? 'killed' : `exit ${r.exitCode}`}`}`)
    }
    throw new Error(`print ${what}? (messages, storing, job, runs)`)
  }

  // --- what the network saw -------------------------------------------------------------------------

  private shown(type: string): boolean {
    return this.showAll || !MEMBERSHIP_TYPES.has(type)
  }

  private onSend(at: Millis, from: NodeId, to: NodeId, msg: RpcRequest, corr: number): void {
    const shown = this.shown(msg.type)
    this.sent.set(`${from}#${corr}`, { type: msg.type, shown })
    this.lastLine = shown ? this.line(at, `${from} -> ${to}  ${describeRequest(msg)}`) : -1
  }

  private onReply(at: Millis, from: NodeId, to: NodeId, msg: RpcResponse, corr: number): void {
    const req = this.sent.get(`${to}#${corr}`)
    const shown = req?.shown ?? this.shown(msg.type)
    this.lastLine = shown ? this.line(at, `${from} -> ${to}  ${describeReply(msg)} (re ${req?.type ?? '?'})`) : -1
  }

  private onFail(at: Millis, node: NodeId, to: NodeId, corr: number, reason: RpcFailure): void {
    const req = this.sent.get(`${node}#${corr}`)
    if (req === undefined || req.shown) this.line(at, `${node} -x ${to}  ${req?.type ?? '?'} failed: ${reason}`)
  }

  private onPublish(at: Millis, from: NodeId, msg: GossipMessage): void {
    const text = describeGossip(msg)
    if (text !== null) this.line(at, `${from} => *  ${text}`)
  }

  /** Whether a drop rule takes this message; marks its log line. */
  private dropped(at: Millis, kinds: ReadonlyArray<DropRule['what']>, from: NodeId, to: NodeId, type: string): boolean {
    const rule = this.rules.find((r) => kinds.includes(r.what) && r.left > 0 && (r.from ?? from) === from && (r.to ?? to) === to && (r.type ?? type) === type)
    if (rule === undefined) return false
    rule.left--
    if (rule.what === 'crash') this.sim.at(at, () => { this.sim.kill(from); this.line(this.sim.now, `${from} killed`) })
    if (this.lastLine >= 0) this.log[this.lastLine] += rule.what === 'crash' ? `  (lost: ${from} dies)` : '  (lost)'
    return true
  }
}

function apiError(body: unknown): string {
  const code = (body as { error?: { code?: string } } | null)?.error?.code
  return code === undefined ? '' : ` ${code}`
}
