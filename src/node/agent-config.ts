// What `murmur agent` is started with, after flags and MURMUR_* env vars are parsed and checked.

export interface AgentConfig {
  /** Human name shown by `murmur nodes`; unique names are the operator's job (like Nomad's). */
  name: string
  /** Directory for the node's key and its store; created if missing. */
  dataDir: string
  /** libp2p TCP port; 0 picks a free one. */
  p2pPort: number
  /** Interface the libp2p host listens on. */
  p2pHost: string
  apiPort: number
  apiHost: string
  /** Bootstrap multiaddrs, each ending in /p2p/<peer id>. */
  join: string[]
  mdns: boolean
  cpu: number
  memoryMb: number
  labels: Record<string, string>
  /** Path of a pnet swarm key file; absent = public network. */
  swarmKeyFile?: string
  apiToken?: string
  /** Timing profile of the failure detector (see src/core/config.ts). */
  profile: 'lan' | 'test'
  /** Many peers share one IP (tests, `murmur up`): turns off gossipsub's IP-colocation penalty. */
  colocated: boolean
  logLevel: string
  /** `json` lines, `pretty` for people, or (absent, `auto`) pretty only when stderr is a terminal. */
  logFormat?: 'auto' | 'json' | 'pretty'
  /** On a graceful stop, drain for at most this long before leaving (0: leave at once). */
  drainTimeoutMs: number
  /**
   * Cells the cluster is split into (src/core/cells.ts): membership, gossip and jobs stay inside
   * a node's cell. Every node of a cluster must be given the same; 1 = one cell, the whole cluster.
   */
  cells: number
  /** A finished job is kept this long, then removed everywhere (src/core/retention.ts). */
  jobRetentionMs: number
}

/** A started agent, as `murmur agent` and tests hold it. */
export interface RunningAgent {
  readonly nodeId: string
  readonly name: string
  /** Base URL of the HTTP API, e.g. http://127.0.0.1:7070 */
  readonly apiUrl: string
  /** The p2p address others can --join, ending in /p2p/<peer id>. */
  readonly p2pAddr: string
  /**
   * Graceful stop: drain (bounded by the config's drainTimeoutMs), tell peers we are `left`, stop
   * the API and libp2p, close the store.
   */
  stop(): Promise<void>
  /** The longest stop() may take before it counts as stuck. */
  readonly stopLimitMs: number
}
