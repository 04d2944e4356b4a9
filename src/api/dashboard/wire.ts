// What the page reads from the API, and the only place it trusts the shape of an answer: each
// reader takes parsed JSON, keeps the fields the page uses with safe defaults, and ignores
// everything else, so fields or event types added to the API later never break the page.

export interface Resources { cpu: number; memoryMb: number }

/** One member-state change as the answering node saw it (`stateChanges` in /v1/nodes). */
export interface NodeStateChange { at: string; from: string; to: string; reason: string }

/** A node of GET /v1/nodes. */
export interface NodeInfo {
  id: string
  name: string
  state: string
  api: string
  total: Resources
  free: Resources
  labels: Record<string, string>
  allocations: number
  lastSeenMs: number
  stateSince?: string
  stateChanges: NodeStateChange[]
}

/** One attempt of one instance of a job. */
export interface AllocationInfo {
  index: number
  attempt: number
  nodeId: string
  nodeName: string
  state: string
  exitCode: number | null
  startedAt: string | null
  finishedAt: string | null
  reason?: string
  replaces?: number
}

/** A duplicate run that was found and stopped. */
export interface DuplicateInfo { index: number; attempt: number; nodeName: string; stoppedAt: string }

/** A job of GET /v1/jobs and /v1/jobs/{id}. */
export interface JobInfo {
  id: string
  name: string
  type: string
  state: string
  submittedAt: string
  command: string[]
  resources: Resources
  count: number
  constraints: Array<{ label: string; op: string; value: string }>
  pendingReason?: string
  allocations: AllocationInfo[]
  duplicates: DuplicateInfo[]
  storedOn: string[]
}

/** An event of GET /v1/events (and /v1/events/recent); only these two types are shown. */
export type ClusterEvent =
  | { type: 'node'; at: string; node: string; name: string; from: string; to: string; reason: string }
  | { type: 'job'; at: string; job: string; name: string; state: string; index?: number; attempt?: number; node?: string; allocState?: string; reason?: string }

/** The `error` of an API error body, when the body is one. */
export interface ApiErrorBody { code: string; message: string }

type Json = Record<string, unknown>

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)
const str = (v: unknown, fallback = ''): string => typeof v === 'string' ? v : fallback
const num = (v: unknown, fallback = 0): number => typeof v === 'number' && Number.isFinite(v) ? v : fallback
const optStr = (v: unknown): string | undefined => typeof v === 'string' ? v : undefined
const optNum = (v: unknown): number | undefined => typeof v === 'number' && Number.isFinite(v) ? v : undefined
const list = (v: unknown): unknown[] => Array.isArray(v) ? v : []

function resources(v: unknown): Resources {
  const r = isObject(v) ? v : {}
  return { cpu: num(r['cpu']), memoryMb: num(r['memoryMb']) }
}

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {}
  if (isObject(v)) for (const [k, val] of Object.entries(v)) if (typeof val === 'string') out[k] = val
  return out
}

/** The nodes of a /v1/nodes answer; entries without an id are dropped. */
export function readNodes(body: unknown): NodeInfo[] {
  const nodes = isObject(body) ? list(body['nodes']) : []
  return nodes.filter(isObject).filter((n) => typeof n['id'] === 'string').map(readNode)
}

export function readNode(n: Json): NodeInfo {
  const res = isObject(n['resources']) ? n['resources'] : {}
  const node: NodeInfo = {
    id: str(n['id']),
    name: str(n['name'], str(n['id'])),
    state: str(n['state'], 'unknown'),
    api: str(n['api']),
    total: resources(res['total']),
    free: resources(res['free']),
    labels: stringMap(n['labels']),
    allocations: num(n['allocations']),
    lastSeenMs: num(n['lastSeenMs']),
    stateChanges: list(n['stateChanges']).filter(isObject).map((c) => ({
      at: str(c['at']), from: str(c['from']), to: str(c['to']), reason: str(c['reason']),
    })),
  }
  const since = optStr(n['stateSince'])
  if (since !== undefined) node.stateSince = since
  return node
}

/** The jobs of a /v1/jobs answer; entries without an id are dropped. */
export function readJobs(body: unknown): JobInfo[] {
  const jobs = isObject(body) ? list(body['jobs']) : []
  return jobs.filter(isObject).filter((j) => typeof j['id'] === 'string').map(readJob)
}

export function readJob(j: Json): JobInfo {
  const spec = isObject(j['spec']) ? j['spec'] : {}
  const job: JobInfo = {
    id: str(j['id']),
    name: str(j['name'], str(spec['name'])),
    type: str(j['type'], str(spec['type'], 'batch')),
    state: str(j['state'], 'unknown'),
    submittedAt: str(j['submittedAt']),
    command: list(spec['command']).filter((c): c is string => typeof c === 'string'),
    resources: resources(spec['resources']),
    count: num(spec['count'], 1),
    constraints: list(spec['constraints']).filter(isObject).map((c) => ({ label: str(c['label']), op: str(c['op']), value: str(c['value']) })),
    allocations: list(j['allocations']).filter(isObject).map(readAllocation),
    duplicates: list(j['duplicates']).filter(isObject).map((d) => ({
      index: num(d['index']), attempt: num(d['attempt']), nodeName: str(d['nodeName'], str(d['nodeId'])), stoppedAt: str(d['stoppedAt']),
    })),
    storedOn: list(j['storedOn']).filter((s): s is string => typeof s === 'string'),
  }
  const pending = optStr(j['pendingReason'])
  if (pending !== undefined) job.pendingReason = pending
  return job
}

function readAllocation(a: Json): AllocationInfo {
  const alloc: AllocationInfo = {
    index: num(a['index']),
    attempt: num(a['attempt'], 1),
    nodeId: str(a['nodeId']),
    nodeName: str(a['nodeName'], str(a['nodeId'])),
    state: str(a['state'], 'unknown'),
    exitCode: optNum(a['exitCode']) ?? null,
    startedAt: optStr(a['startedAt']) ?? null,
    finishedAt: optStr(a['finishedAt']) ?? null,
  }
  const reason = optStr(a['reason'])
  if (reason !== undefined) alloc.reason = reason
  const replaces = optNum(a['replaces'])
  if (replaces !== undefined) alloc.replaces = replaces
  return alloc
}

/** One event from its JSON data, or undefined for an event type the page does not show. */
export function readEvent(data: unknown, receivedAt: string): ClusterEvent | undefined {
  if (!isObject(data)) return undefined
  const at = str(data['at'], receivedAt)
  if (data['type'] === 'node' && typeof data['node'] === 'string') {
    return { type: 'node', at, node: data['node'], name: str(data['name'], data['node']), from: str(data['from']), to: str(data['to']), reason: str(data['reason']) }
  }
  if (data['type'] === 'job' && typeof data['job'] === 'string') {
    const event: ClusterEvent = { type: 'job', at, job: data['job'], name: str(data['name']), state: str(data['state']) }
    const index = optNum(data['index'])
    if (index !== undefined) event.index = index
    const attempt = optNum(data['attempt'])
    if (attempt !== undefined) event.attempt = attempt
    const node = optStr(data['node'])
    if (node !== undefined) event.node = node
    const allocState = optStr(data['allocState'])
    if (allocState !== undefined) event.allocState = allocState
    const reason = optStr(data['reason'])
    if (reason !== undefined) event.reason = reason
    return event
  }
  return undefined
}

/** The events of a /v1/events/recent answer that the page shows. */
export function readRecentEvents(body: unknown, receivedAt: string): ClusterEvent[] {
  const events = isObject(body) ? list(body['events']) : []
  return events.map((e) => readEvent(e, receivedAt)).filter((e): e is ClusterEvent => e !== undefined)
}

/** The `error` of an API error body, or undefined when the body is something else. */
export function readApiError(body: unknown): ApiErrorBody | undefined {
  if (!isObject(body) || !isObject(body['error'])) return undefined
  const e = body['error']
  if (typeof e['message'] !== 'string') return undefined
  return { code: str(e['code'], 'error'), message: e['message'] }
}
