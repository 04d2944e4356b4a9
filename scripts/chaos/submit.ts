// Submits the planned workload: each job at its planned time, to its planned agent or the next
// one that is up, retried on errors and timeouts with the same Idempotency-Key (so a retry after a
// submit that was stored but not answered creates nothing new). A job is acked only on a 201.
import { sleepUntil, type ChaosCluster } from './cluster.js'
import { JOB_SCRIPT } from './history.js'
import type { PlannedJob, SubmitOutcome } from './types.js'

/** A submit waits for the job to be on disk on 3 nodes; with a replica frozen, that can take a while. */
const SUBMIT_TIMEOUT_MS = 15_000
/** Per job: at most this many tries and this long in all. */
const MAX_TRIES = 8
const MAX_SUBMIT_MS = 60_000
const RETRY_BACKOFF_MS = 300
/** Submissions in flight at once: a few clients, like users at different nodes. */
const MAX_IN_FLIGHT = 8
/** A batch run sleeps at most minutes; this only stops a stuck one. */
const BATCH_TIMEOUT_MS = 120_000

export interface SubmitContext {
  cluster: ChaosCluster
  t0: number
  historyDir: string
  retries: number
  signal: AbortSignal
  log: (line: string) => void
}

export function jobBody(job: PlannedJob, historyDir: string, retries: number): unknown {
  return {
    name: `chaos-${job.seq}`,
    command: ['sh', '-c', JOB_SCRIPT],
    env: { CHAOS_HISTORY: historyDir, CHAOS_SLEEP: job.type === 'service' ? '86400' : (job.sleepMs / 1000).toFixed(3) },
    resources: { cpu: job.cpu, memoryMb: job.memoryMb },
    count: job.count,
    type: job.type,
    restart: { attempts: retries, backoffMs: 500 },
    timeoutMs: job.type === 'batch' ? BATCH_TIMEOUT_MS : 0,
  }
}

/** The planned agent if it is up, else the next one that is (by position); undefined if none is. */
function pickAgent(cluster: ChaosCluster, via: number, tries: number): string | undefined {
  const n = cluster.names.length
  for (let k = 0; k < n; k++) {
    const name = cluster.names[(via + tries + k) % n] as string
    if (cluster.state(name) === 'up') return name
  }
  return undefined
}

async function submitOne(job: PlannedJob, ctx: SubmitContext): Promise<SubmitOutcome> {
  const out: SubmitOutcome = { seq: job.seq, key: job.key, type: job.type, id: null, ackedAt: null, tries: 0, errors: [] }
  const body = JSON.stringify(jobBody(job, ctx.historyDir, ctx.retries))
  const began = Date.now()
  while (out.tries < MAX_TRIES && Date.now() - began < MAX_SUBMIT_MS && !ctx.signal.aborted) {
    const name = pickAgent(ctx.cluster, job.via, out.tries)
    if (name === undefined) {
      await sleepUntil(Date.now() + RETRY_BACKOFF_MS, ctx.signal)
      continue
    }
    out.tries++
    try {
      const res = await fetch(`${ctx.cluster.agent(name).api}/v1/jobs`, {
        method: 'POST', body, signal: AbortSignal.timeout(SUBMIT_TIMEOUT_MS),
        headers: { 'content-type': 'application/json', 'idempotency-key': job.key },
      })
      const text = await res.text()
      if (res.status === 201) {
        out.id = (JSON.parse(text) as { id: string }).id
        out.ackedAt = Date.now()
        return out
      }
      out.errors.push(`${name}: HTTP ${res.status} ${text.slice(0, 200)}`)
      // A 400 is our bug, not the cluster's weather: retrying cannot help.
      if (res.status === 400) return out
    } catch (err) {
      out.errors.push(`${name}: ${err instanceof Error ? err.message : String(err)}`)
    }
    await sleepUntil(Date.now() + RETRY_BACKOFF_MS * out.tries, ctx.signal)
  }
  return out
}

/** Submits every planned job at t0 + job.at; resolves once every submission ended (acked or not). */
export async function submitWorkload(plan: PlannedJob[], ctx: SubmitContext): Promise<SubmitOutcome[]> {
  const outcomes: SubmitOutcome[] = []
  const inFlight = new Set<Promise<void>>()
  for (const job of plan) {
    await sleepUntil(ctx.t0 + job.at, ctx.signal)
    while (inFlight.size >= MAX_IN_FLIGHT) await Promise.race(inFlight)
    if (ctx.signal.aborted) break
    const p: Promise<void> = submitOne(job, ctx).then((o) => {
      outcomes.push(o)
      if (o.id === null) ctx.log(`job ${job.key} never acked: ${o.errors.slice(-1).join('')}`)
    }).finally(() => inFlight.delete(p))
    inFlight.add(p)
  }
  await Promise.all(inFlight)
  return outcomes.sort((a, b) => a.seq - b.seq)
}
