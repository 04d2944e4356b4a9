// One `npm run lab` run, as a new user would try murmur on a LAN: hosts started with no --join
// find each other by mDNS (timed), a host started later joins the same way (timed, then it
// leaves), a service runs one instance per host, one host's link is cut for a few seconds
// (detection and replacement timed from both sides), then the link comes back and the heal is
// checked against the contract from what really ran. Always tears the lab down.
import { loadavg } from 'node:os'
import { detectionBoundMs, isolatedBoundMs } from './bounds.js'
import { analyzeHeal, healChecks } from './heal.js'
import { Lab } from './lab.js'
import { timeStates, waitAllAlive, waitUntil } from './observe.js'
import type { LabRunOptions } from './options.js'
import { failuresOf, type CutFigures, type HealFigures, type LabReport } from './report.js'
import { beatingCommand, parseAllocId } from './runs.js'
import { duplicatesStopped, localHealth } from './metrics.js'
import { waitSettled } from './settle.js'

const JOIN_LIMIT_MS = 30_000
const PLACE_LIMIT_MS = 30_000
const SETTLE_LIMIT_MS = 60_000

export interface RunContext {
  signal: AbortSignal
  log: (line: string) => void
  /** Called with the lab once it is up, before the teardown (`--hold` keeps it there). */
  beforeTeardown?: (lab: Lab) => Promise<void>
}

export async function runLab(o: LabRunOptions, ctx: RunContext): Promise<LabReport> {
  const t0 = Date.now()
  const loadStart = loadavg()[0] ?? 0
  const lab = await Lab.create({ log: ctx.log, keep: o.keep, profile: o.profile })
  const partial: Omit<LabReport, 'ok' | 'failures' | 'leftovers' | 'totalMs' | 'load'> = {
    prefix: lab.names.prefix, runDir: lab.runDir, kept: o.keep, options: o,
    join: { hosts: [], readyMs: {}, mdnsJoinMs: NaN }, late: [], cut: null, heal: null, actions: lab.actions,
  }
  const aborted = (): void => { if (ctx.signal.aborted) throw new Error('interrupted') }
  try {
    // 1. Hosts started at once, no --join: mDNS is the only way they can meet.
    const hosts: string[] = []
    for (let i = 1; i <= o.hosts; i++) hosts.push(await lab.addHost({ cpu: i === o.hosts ? o.victimCpu : o.cpu }))
    const agents = await lab.startAll(hosts)
    const lastReady = Math.max(...agents.map((a) => a.readyAt))
    const joined = await waitAllAlive(lab, hosts, JOIN_LIMIT_MS)
    partial.join = { hosts, readyMs: Object.fromEntries(agents.map((a) => [a.host, a.readyAt - a.spawnedAt])), mdnsJoinMs: joined - lastReady }
    lab.did(`all ${hosts.length} hosts see each other alive, ${joined - lastReady} ms after the last was ready`)
    aborted()

    // 2. Hosts started later join the same way; then they leave, so the experiment below is the issue's.
    for (let i = 0; i < o.late; i++) {
      const late = await lab.addHost({ cpu: o.cpu })
      const a = await lab.start(late)
      const at = await waitAllAlive(lab, [...hosts, late], JOIN_LIMIT_MS)
      partial.late.push({ host: late, joinMs: at - a.readyAt })
      lab.did(`${late} seen alive by all, ${at - a.readyAt} ms after it was ready`)
      await lab.stop(late)
    }
    aborted()

    // 3. A service, one instance per host.
    const victim = hosts[hosts.length - 1] as string
    const others = hosts.filter((h) => h !== victim)
    const spec = {
      name: 'lab-service', type: 'service', count: hosts.length, resources: { cpu: o.jobCpu, memoryMb: 16 }, command: beatingCommand(),
      ...(o.disconnect === undefined ? {} : { disconnect: o.disconnect }),
    }
    const jobId = await lab.submit(hosts[0] as string, spec)
    const placed = await waitUntil('one running instance per host', async () => {
      const j = await lab.job(hosts[0] as string, jobId)
      const running = j?.allocations.filter((a) => a.state === 'running') ?? []
      return running.length === hosts.length && new Set(running.map((a) => a.nodeName)).size === hosts.length ? running : undefined
    }, PLACE_LIMIT_MS, 200)
    const victimIndex = placed.find((a) => a.nodeName === victim)?.index as number
    lab.did(`placed: ${placed.map((a) => `${a.index}/${a.attempt}@${a.nodeName}`).join(' ')}`)
    aborted()

    // 4. The cut: timed from both sides, and the victim's instance placed again on the others'.
    const dupsBefore = await duplicatesStopped(lab, hosts)
    const boundMs = detectionBoundMs(o.profile, hosts.length, await localHealth(lab, others))
    const victimBoundMs = isolatedBoundMs(o.profile, hosts.length, await localHealth(lab, [victim]))
    await lab.cut(victim)
    const cutAt = Date.now()
    const waitLimit = Math.max(o.cutMs, victimBoundMs + 5_000)
    const [detect, victimView, replaced] = await Promise.all([
      timeStates(lab, others, victim, ['dead'], waitLimit).catch(() => new Map<string, number>()),
      Promise.all(others.map((h) => timeStates(lab, [victim], h, ['dead'], waitLimit)))
        .then((seen) => Math.max(...seen.map((m) => m.get(victim) as number))).catch(() => null),
      waitUntil(`instance ${victimIndex} to run on ${others.join(' or ')}`, async () => {
        const live = lab.liveAllocs()
        return others.some((h) => [...live.get(h) ?? []].some((id) => { const p = parseAllocId(id); return p?.jobId === jobId && p.index === victimIndex })) ? Date.now() : undefined
      }, waitLimit, 100).catch(() => null),
    ])
    const cut: CutFigures = {
      victim, boundMs, victimBoundMs,
      detectMs: Object.fromEntries(others.map((h) => [h, detect.has(h) ? (detect.get(h) as number) - cutAt : null])),
      victimSeesGoneMs: victimView === null ? null : victimView - cutAt,
      replacedMs: replaced === null ? null : replaced - cutAt,
    }
    partial.cut = cut
    await new Promise((r) => setTimeout(r, Math.max(0, cutAt + o.cutMs - Date.now())))
    aborted()

    // 5. The heal.
    await lab.reconnect(victim)
    const healAt = Date.now()
    const agreeAt = await waitAllAlive(lab, hosts, SETTLE_LIMIT_MS)
    const { settledAt, job } = await waitSettled(lab, hosts, jobId, hosts.length, SETTLE_LIMIT_MS)
    lab.did(`settled ${settledAt - healAt} ms after the heal`)
    const report = analyzeHeal({
      jobId, count: hosts.length, healAt, settledAt, runs: lab.runs(), live: lab.liveAllocs(),
      duplicates: job.duplicates ?? [], duplicatesCounted: (await duplicatesStopped(lab, hosts)) - dupsBefore,
    })
    const heal: HealFigures = { viewsAgreeMs: agreeAt - healAt, settledMs: settledAt - healAt, report, checks: healChecks(report) }
    partial.heal = heal
    await ctx.beforeTeardown?.(lab)
  } catch (err) {
    partial.error = err instanceof Error ? err.message : String(err)
  }
  const leftovers = await lab.teardown()
  const base = { ...partial, leftovers, totalMs: Date.now() - t0, load: { start: loadStart, end: loadavg()[0] ?? 0 } }
  const failures = failuresOf(base)
  return { ...base, ok: failures.length === 0, failures }
}
