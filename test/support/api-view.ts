// A stand-in AgentView for API tests that need no cluster: two nodes, no jobs, and an event
// emitter the test drives. The API server above it is the real one.
import { Registry } from 'prom-client'
import type { AgentView } from '../../src/api/agent-view.js'
import type { ClusterEvent, NodeStatus } from '../../src/core/types.js'

export function node(id: string, name: string, state: NodeStatus['state'] = 'alive', api = 'http://127.0.0.1:7070'): NodeStatus {
  return {
    id, name, state, incarnation: 1, addrs: [`/ip4/127.0.0.1/tcp/7000/p2p/${id}`], api,
    resources: { total: { cpu: 4, memoryMb: 4096 }, free: { cpu: 3.5, memoryMb: 3968 } },
    labels: { zone: 'a' }, allocations: 1, lastSeenMs: 120,
  }
}

export const NODES = [node('12D3KooWAAAA', 'n1'), node('12D3KooWBBBB', 'n2', 'suspect', 'http://127.0.0.1:7071')]

/** The job side of the view; these tests cover the node routes. */
export const NO_JOBS: Omit<AgentView, 'nodeId' | 'name' | 'nodes' | 'node' | 'subscribe' | 'metrics'> = {
  jobs: async () => [],
  job: async () => undefined,
  submitJob: async () => ({ status: 503, body: { error: { code: 'unavailable', message: 'no jobs here' } } }),
  cancelJob: async () => ({ status: 404, body: { error: { code: 'not_found', message: 'no jobs here' } } }),
  drainNode: async (id, enable, deadlineMs) => ({ status: 202, body: { id, draining: enable, deadlineMs } }),
  storedOn: () => [],
  readLocalLog: async () => undefined,
}

export type FakeView = AgentView & { emit(event: ClusterEvent): void; listeners: Set<(event: ClusterEvent) => void> }

export function fakeView(nodes: NodeStatus[] = NODES): FakeView {
  const listeners = new Set<(event: ClusterEvent) => void>()
  return {
    ...NO_JOBS,
    nodeId: '12D3KooWAAAA',
    name: 'n1',
    nodes: () => nodes,
    node: (idOrName) => nodes.find((n) => n.id === idOrName || n.name === idOrName),
    subscribe: (listener) => {
      listeners.add(listener)
      return () => { listeners.delete(listener) }
    },
    metrics: new Registry(),
    emit: (event) => { for (const l of listeners) l(event) },
    listeners,
  }
}

/** Open /v1/events streams, from the API's own gauge. */
export async function sseClients(view: AgentView): Promise<number> {
  const gauge = view.metrics.getSingleMetric('murmur_http_sse_clients')
  return (await gauge?.get())?.values[0]?.value ?? 0
}
