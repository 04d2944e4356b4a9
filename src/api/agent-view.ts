// What the HTTP API needs from a running agent: narrow on purpose, so the API never reaches into
// libp2p or the core directly. src/node/agent.ts implements it.
import type { Registry } from 'prom-client'
import type { ClusterEvent, NodeStatus } from '../core/types.js'

export interface AgentView {
  readonly nodeId: string
  readonly name: string
  /** The cluster as this node sees it, itself included. */
  nodes(): NodeStatus[]
  /** One node by peer id or name, or undefined. */
  node(idOrName: string): NodeStatus | undefined
  /** Live state changes for /v1/events; returns an unsubscribe function. */
  subscribe(listener: (event: ClusterEvent) => void): () => void
  /** Prometheus registry with this agent's metrics. */
  readonly metrics: Registry
}
