// Reading one gauge or counter from the agents' GET /metrics (Prometheus text).
import type { Lab } from './lab.js'

/** The value of an unlabelled metric on one host; undefined when it does not answer or lacks it. */
export async function readMetric(lab: Lab, host: string, name: string): Promise<number | undefined> {
  const res = await lab.request<string>(host, 'GET', '/metrics').catch(() => undefined)
  if (typeof res?.body !== 'string') return undefined
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(res.body)
  return m === null ? undefined : Number(m[1])
}

/** The metric on each host (0 where missing). */
export async function readMetricEach(lab: Lab, hosts: readonly string[], name: string): Promise<number[]> {
  return await Promise.all(hosts.map(async (h) => (await readMetric(lab, h, name)) ?? 0))
}

/** The sum over `hosts` of murmur_duplicates_stopped_total (a host that does not answer counts 0). */
export async function duplicatesStopped(lab: Lab, hosts: readonly string[]): Promise<number> {
  return (await readMetricEach(lab, hosts, 'murmur_duplicates_stopped_total')).reduce((a, b) => a + b, 0)
}

/** The highest Lifeguard local health among `hosts` (it stretches their probe timing). */
export async function localHealth(lab: Lab, hosts: readonly string[]): Promise<number> {
  return Math.max(0, ...await readMetricEach(lab, hosts, 'murmur_local_health'))
}
