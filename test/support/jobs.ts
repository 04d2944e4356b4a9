// Jobs through the contract's HTTP API, for multi-process tests: submit, read, wait for a state,
// and on a timeout print what every agent saw so a CI failure explains itself.
import { waitFor, type AgentFleet, type AgentProc } from './agents.js'

export interface Alloc {
  index: number; attempt: number; nodeId: string; nodeName: string; state: string; exitCode: number | null
  startedAt: string | null; finishedAt: string | null; reason?: string; replaces?: number
}
export interface Job {
  id: string; state: string; pendingReason?: string; allocations: Alloc[]
  duplicates?: Array<{ index: number; attempt: number; nodeId: string; nodeName: string; stoppedAt: string }>
  storedOn?: string[]
}
export interface PostAnswer { status: number; body: { id?: string; error?: { code: string; message: string } } }

export async function post(agent: AgentProc, body: unknown, headers: Record<string, string> = {}): Promise<PostAnswer> {
  const res = await fetch(`${agent.api}/v1/jobs`, {
    method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body), signal: AbortSignal.timeout(20_000),
  })
  return { status: res.status, body: await res.json() as PostAnswer['body'] }
}

/** Submit and expect 201; returns the job id. */
export async function submit(agent: AgentProc, body: unknown): Promise<string> {
  const res = await post(agent, body)
  if (res.status !== 201 || res.body.id === undefined) throw new Error(`submit to ${agent.name}: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body.id
}

export async function jobOn(agent: AgentProc, id: string): Promise<Job | undefined> {
  const res = await fetch(`${agent.api}/v1/jobs/${id}`, { signal: AbortSignal.timeout(5_000) })
  return res.status === 200 ? await res.json() as Job : undefined
}

/** Poll one agent's view of a job until `check` holds; on timeout, dump every agent's view. */
export async function waitJob(fleet: AgentFleet, agent: AgentProc, id: string, what: string, check: (j: Job) => boolean, timeoutMs = 20_000): Promise<Job> {
  try {
    return await waitFor(`job ${id} ${what} on ${agent.name}`, async () => {
      const j = await jobOn(agent, id)
      return j !== undefined && check(j) ? j : undefined
    }, timeoutMs, 100)
  } catch (err) {
    for (const x of fleet.agents.values()) {
      if (x.child.exitCode !== null || x.child.signalCode !== null) continue
      console.error(x.name, JSON.stringify(await jobOn(x, id).catch((e: unknown) => String(e))))
      console.error(x.stderr.filter((l) => l.includes(id) || /warn|error/i.test(l)).slice(-15).join('\n'))
    }
    throw err
  }
}

export function waitState(fleet: AgentFleet, agent: AgentProc, id: string, state: string, timeoutMs = 20_000): Promise<Job> {
  return waitJob(fleet, agent, id, state, (j) => j.state === state, timeoutMs)
}

/** The running allocations of a job, newest first. */
export function running(j: Job): Alloc[] {
  return j.allocations.filter((a) => a.state === 'running').sort((x, y) => y.attempt - x.attempt)
}
