// What the HTTP API needs from a running agent: narrow on purpose, so the API never reaches into
// libp2p or the core directly. src/node/agent.ts implements it.
import type { Registry } from 'prom-client'
import type { ApiReply, JobSpec, JobStatus } from '../core/job-types.js'
import type { ClusterEvent, NodeStatus } from '../core/types.js'

export interface LogChunk {
  data: Buffer
  /** Size of the log file now; pass as `offset` to read what comes next (--follow). */
  next: number
}

export interface AgentView {
  readonly nodeId: string
  readonly name: string
  /** The cluster as this node sees it, itself included. */
  nodes(): NodeStatus[]
  /** One node by peer id or name, or undefined. */
  node(idOrName: string): NodeStatus | undefined
  /** Live state changes for /v1/events; returns an unsubscribe function. */
  subscribe(listener: (event: ClusterEvent) => void): () => void
  /**
   * Someone watches this node's event stream (an open /v1/events): the node then hears every
   * node's job events, not only its own (it joins the cell's event topic). Returns the call that
   * says the watcher left.
   */
  watch?(): () => void
  /** Prometheus registry with this agent's metrics. */
  readonly metrics: Registry

  /** Every job in the cluster (each live node lists the jobs it stores). */
  jobs(): Promise<JobStatus[]>
  /** One job, from this node's copy when it stores the job, else from its storing nodes. */
  job(id: string): Promise<JobStatus | undefined>
  /**
   * Submit a validated spec with defaults filled in. Resolves with the core's answer: 201 {id}
   * once the job is on disk on min(3, alive) nodes, or an error reply. The same idempotency key
   * gives the same id on any node.
   */
  submitJob(spec: JobSpec, idempotencyKey?: string): Promise<ApiReply>
  /** 202, or 404 for an unknown job. */
  cancelJob(id: string): Promise<ApiReply>
  /** Drain a node by peer id (or stop draining it): 202 once that node took it; 409 when it is not alive. */
  drainNode(id: string, enable: boolean, deadlineMs: number): Promise<ApiReply>
  /**
   * Names of the nodes that store a job (first: its arbiter), as this node sees membership; empty
   * for a job of another cell, whose members this node does not know.
   */
  storedOn(id: string): string[]
  /**
   * Read an allocation's log from this node's disk; undefined when this node has no such log.
   * `offset` < 0 reads the last -offset bytes.
   */
  readLocalLog(allocationId: string, stream: 'stdout' | 'stderr', offset: number, maxBytes: number): Promise<LogChunk | undefined>
}
