// Waiting for a lab cluster to settle after a fault: every agent sees every host alive, they all
// hold the same record of the job, and exactly one process runs per instance, unchanged for a
// while (a heal that keeps re-placing runs never settles).
import type { Job } from '../../test/support/jobs.js'
import type { Lab } from './lab.js'
import { parseAllocId } from './runs.js'
import { describeViews, sleep } from './observe.js'

/** Settled means unchanged for this long: several placement rounds and a state exchange. */
export const STABLE_MS = 3_000

/** What a settled cluster looks like; `key` changes whenever any part of it does. */
interface Snapshot { ok: boolean; key: string; why: string; job?: Job }

async function snapshot(lab: Lab, hosts: readonly string[], jobId: string, count: number): Promise<Snapshot> {
  const views = await Promise.all(hosts.map((h) => lab.nodes(h, 2_000).catch(() => undefined)))
  const notAlive = views.flatMap((v, i) => v === undefined ? [`${hosts[i]} does not answer`] : hosts.filter((h) => v.find((n) => n.name === h)?.state !== 'alive').map((h) => `${hosts[i]} sees ${h} ${v.find((n) => n.name === h)?.state ?? 'missing'}`))
  const jobs = await Promise.all(hosts.map((h) => lab.job(h, jobId).catch(() => undefined)))
  const records = jobs.map((j) => JSON.stringify([j?.allocations, j?.duplicates ?? []]))
  const live = lab.liveAllocs()
  const perInstance = new Map<number, string[]>()
  for (const [host, ids] of live) {
    for (const id of ids) {
      const p = parseAllocId(id)
      if (p?.jobId === jobId) perInstance.set(p.index, [...perInstance.get(p.index) ?? [], `${p.index}/${p.attempt}@${host}`])
    }
  }
  const wrongCount = Array.from({ length: count }, (_, i) => i).filter((i) => (perInstance.get(i) ?? []).length !== 1)
  const why = [
    ...notAlive,
    ...(new Set(records).size > 1 ? ['the agents hold different records of the job'] : []),
    ...wrongCount.map((i) => `instance ${i} runs ${(perInstance.get(i) ?? []).length} time(s): ${(perInstance.get(i) ?? []).join(' ')}`),
  ]
  const key = JSON.stringify([records[0], [...perInstance.entries()].sort()])
  const job = jobs[0]
  return { ok: why.length === 0, key, why: why.join('; '), ...(job === undefined ? {} : { job }) }
}

/**
 * Waits until the cluster holds one settled state for STABLE_MS; resolves with when that state
 * was first seen and the job as the first host shows it. Throws after `timeoutMs` with why not.
 */
export async function waitSettled(lab: Lab, hosts: readonly string[], jobId: string, count: number, timeoutMs: number): Promise<{ settledAt: number; job: Job }> {
  const deadline = Date.now() + timeoutMs
  let since: { at: number; key: string } | null = null
  let last: Snapshot | undefined
  while (Date.now() < deadline) {
    last = await snapshot(lab, hosts, jobId, count)
    if (!last.ok) since = null
    else if (since === null || since.key !== last.key) since = { at: Date.now(), key: last.key }
    else if (Date.now() - since.at >= STABLE_MS && last.job !== undefined) return { settledAt: since.at, job: last.job }
    await sleep(200)
  }
  throw new Error(`the cluster did not settle within ${timeoutMs} ms: ${last?.why || 'it kept changing'}\n${await describeViews(lab, hosts)}`)
}
