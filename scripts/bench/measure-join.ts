// joinConvergeMs per cluster size, and detection at that size (detectMsBySize). For each size N, a
// fresh cluster: N agents launched at once (the first, then the others joining it, as soon as
// its address is known), then
//   joinReadyMs:    launch -> every agent printed its ready line
//   joinConvergeMs: launch -> every agent sees N alive (GET /v1/nodes on every agent, polled every
//                   max(100, 10 N) ms, which bounds the figure's resolution)
// A size that does not converge within the limit is reported as null with a note (and how many
// alive the agents saw), not as a failure of the bench. Then, after a settle, `kills` times:
// SIGKILL one agent -> every other agent's event stream said it is dead.
// Sizes above 10 cost minutes each on two cores: they are made once, not once per run.
import { nowMs } from './clock.js'
import { BenchCluster, sleep, type AgentProc } from './cluster.js'
import { EventWatch } from './events.js'
import { cpuSeconds } from './proc-stat.js'
import type { BenchOptions } from './options.js'
import { median, percentile } from './stats.js'
import type { Measurement, RunResult } from './types.js'

/**
 * After convergence, before killing: the start-up load (N processes loading on two cores, a sync
 * on every new connection) passes, and so does the load of the bench's own watches: a watched
 * agent connects to every member that publishes events (CoreRuntime.watch), so opening the event
 * streams of 50 agents makes up to 1,225 connections at ~50 ms of CPU each. Killing while those
 * handshakes ran measured the bench's own storm (1.86 s in one run, 0.91 s in the next), not
 * detection. So the settle starts once the watches are open, and lasts until the agents together
 * use less than QUIET_CORES over a second (at most QUIET_LIMIT_MS more). Quick mode waits less,
 * and its detection figures are noisier.
 */
const SETTLE_MS = 5_000
const QUICK_SETTLE_MS = 2_000
const QUIET_CORES = 0.5
const QUIET_LIMIT_MS = 60_000
const DETECT_LIMIT_MS = 30_000
const BETWEEN_KILLS_MS = 2_000

/** Whether run `index` measures `size` (big sizes, and in quick mode all but the smallest, once). */
export function measuresSize(size: number, index: number, o: BenchOptions): boolean {
  if (index === 0) return true
  return o.quick ? size === Math.min(...o.joinSizes) : size <= 10
}

/** Waits `minMs`, then until `agents` together use under QUIET_CORES of CPU over one second (QUIET_LIMIT_MS at most). */
async function settle(agents: AgentProc[], minMs: number): Promise<void> {
  await sleep(minMs)
  const used = (): number => agents.reduce((sum, a) => {
    try {
      return sum + cpuSeconds(a.child.pid as number)
    } catch {
      return sum
    }
  }, 0)
  const until = nowMs() + QUIET_LIMIT_MS
  let last = used()
  while (nowMs() < until) {
    await sleep(1_000)
    const now = used()
    if (now - last < QUIET_CORES) return
    last = now
  }
}

async function detect(c: BenchCluster, agents: AgentProc[], kills: number, settleMs: number): Promise<number[]> {
  const watches = new Map<string, EventWatch>()
  try {
    for (const a of agents) watches.set(a.name, await EventWatch.open(a.api))
    await settle(c.live(), settleMs)
    const times: number[] = []
    for (let k = 0; k < kills && c.live().length > 2; k++) {
      if (k > 0) await sleep(BETWEEN_KILLS_MS)
      const victim = agents[agents.length - 1 - k] as AgentProc
      const observers = c.live().filter((a) => a !== victim)
      const t0 = nowMs()
      victim.child.kill('SIGKILL')
      const seen = await Promise.all(observers.map((o) => {
        const w = watches.get(o.name) as EventWatch
        return w.waitUntil(() => w.nodeStateAt(victim.name, 'dead', t0), async () => {
          const res = await fetch(`${o.api}/v1/nodes`, { signal: AbortSignal.timeout(3_000) })
          const rows = (await res.json()) as { nodes: Array<{ name: string; state: string }> }
          return rows.nodes.find((n) => n.name === victim.name)?.state === 'dead' ? nowMs() : undefined
        }, DETECT_LIMIT_MS)
      }))
      if (seen.some((s) => s === null)) throw new Error(`SIGKILL of ${victim.name}: not seen dead by every other agent within ${DETECT_LIMIT_MS} ms`)
      times.push(Math.max(...(seen as number[])) - t0)
    }
    return times
  } finally {
    for (const w of watches.values()) w.close()
  }
}

async function oneSize(ctx: Parameters<Measurement['run']>[0], n: number): Promise<RunResult> {
  const o = ctx.options
  const c = new BenchCluster()
  try {
    let launched: Awaited<ReturnType<BenchCluster['launch']>>
    try {
      launched = await c.launch(n, `j${n}-`)
    } catch (err) {
      return { figures: {}, notes: [`join ${n}: the agents did not all start: ${(err as Error).message.split('\n')[0]}`] }
    }
    const { agents, launchedAt, readyAt } = launched
    const left = Math.max(5_000, o.joinLimitMs - (nowMs() - launchedAt))
    // Asking every agent 10 times a second would itself load a big cluster: poll less often with size.
    const convergedAt = await c.waitAllSee(agents, n, left, Math.max(100, 10 * n))
    const readyMs = readyAt - launchedAt
    if (convergedAt === null) {
      const counts = await c.aliveCounts(agents)
      const seen = counts.length === 0 ? 'no agent answered'
        : `alive seen per agent: min ${counts[0]}, median ${median(counts)}, max ${counts[counts.length - 1]}; ${counts.length} of ${n} answered`
      return {
        figures: { [`joinReadyMs.${n}`]: readyMs },
        details: { [`aliveSeen.${n}`]: counts },
        notes: [`join ${n}: not converged within ${o.joinLimitMs / 1000} s of launch (all ready after ${(readyMs / 1000).toFixed(1)} s; ${seen})`],
      }
    }
    ctx.log(`join ${n}: ready ${(readyMs / 1000).toFixed(1)} s, all see ${n} alive ${((convergedAt - launchedAt) / 1000).toFixed(1)} s after launch`)
    let kills: number[] = []
    const notes: string[] = []
    const want = Math.min(o.joinKills, n - 2)
    if (want > 0) {
      try {
        kills = await detect(c, agents, want, o.quick ? QUICK_SETTLE_MS : SETTLE_MS)
      } catch (err) {
        notes.push(`join ${n}: ${(err as Error).message}`)
      }
    }
    return {
      figures: {
        [`joinConvergeMs.${n}`]: convergedAt - launchedAt, [`joinReadyMs.${n}`]: readyMs,
        [`detectMsBySize.${n}`]: percentile(kills, 50),
      },
      details: { [`detectMs.${n}`]: kills },
      notes,
    }
  } finally {
    await c.stop()
  }
}

export const join: Measurement = {
  name: 'join',
  runs: (o) => o.runs,
  async run(ctx, index): Promise<RunResult> {
    const out: RunResult = { figures: {}, details: {}, notes: [] }
    for (const n of ctx.options.joinSizes) {
      if (!measuresSize(n, index, ctx.options)) continue
      const r = await oneSize(ctx, n)
      Object.assign(out.figures, r.figures)
      Object.assign(out.details as object, r.details ?? {})
      out.notes?.push(...(r.notes ?? []))
    }
    return out
  },
}
