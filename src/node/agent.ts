// Assembles one murmur node: data dir store, persistent identity, libp2p host, the pure core and
// its runtime, and the HTTP API. `murmur agent` and the tests start nodes through startAgent().
import './polyfill.js'
import { createHash, randomBytes, randomInt } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Query } from 'interface-datastore'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createApiServer } from '../api/server.js'
import type { AgentView } from '../api/agent-view.js'
import { ApiError, type ErrorBody } from '../api/errors.js'
import { cellOf, cellTopic } from '../core/cells.js'
import { colocated, PROFILES } from '../core/config.js'
import { DRAIN_KEY } from '../core/jobs.js'
import { NodeCore } from '../core/node-core.js'
import type { ApiReply, JobRecord, JobStatus } from '../core/job-types.js'
import { DEFAULT_GRACE_MS, readLog, Supervisor } from '../execution/index.js'
import { CLUSTER_TOPIC, MAX_RPC_BYTES } from '../gossip/topics.js'
import { JOBS_DEFAULTS } from '../core/jobs-config.js'
import type { AgentConfig, RunningAgent } from './agent-config.js'
import { CHANNEL_PROTOCOL } from './channel-registry.js'
import { CoreRuntime, type ProcessRunner } from './core-runtime.js'
import { createClusterHost } from './host.js'
import { loadOrCreateIdentity } from './identity.js'
import { traceHttp } from './lat-trace.js'
import { createLogger } from './logger.js'
import { createAgentMetrics } from './metrics.js'
import { batchJson, getJson, openStore } from './store.js'

/**
 * How long a leaving node waits for its goodbyes to be delivered. Peers are told directly, with
 * a probe timeout each (400 ms on a LAN); 1.5 s covers that and a slow disk flush.
 */
const LEAVE_LIMIT_MS = 1_500

export async function startAgent(config: AgentConfig): Promise<RunningAgent> {
  const log = createLogger({ name: config.name, level: config.logLevel, format: config.logFormat })
  // Agents on a loopback address share this machine's cores: their mesh grows more slowly.
  const profile = config.colocated ? colocated(PROFILES[config.profile]) : PROFILES[config.profile]
  const store = await openStore(config.dataDir)
  const cleanup: Array<() => Promise<void>> = [async () => { await store.close() }]
  try {
    const privateKey = await loadOrCreateIdentity(store)
    const swarmKey = config.swarmKeyFile === undefined ? undefined : new Uint8Array(await readFile(config.swarmKeyFile))
    // Gossip (and the peer exchange derived from its topic) stays inside the node's cell; nodes
    // of other cells are reached by rpc only. One cell: the cluster topic, as before cells.
    const topic = cellTopic(CLUSTER_TOPIC, cellOf(peerIdFromPrivateKey(privateKey).toString(), config.cells), config.cells)
    const host = await createClusterHost({
      privateKey, listenHost: config.p2pHost, listenPort: config.p2pPort, join: config.join, mdns: config.mdns,
      swarmKey, topic, rpcProtocol: CHANNEL_PROTOCOL, maxMessageBytes: MAX_RPC_BYTES,
      colocated: config.colocated, logger: log.child({ part: 'host' }),
    })

    const supervisor = new Supervisor({ allocationsDir: join(config.dataDir, 'allocs'), logger: log.child({ part: 'exec' }) })
    // Processes a crashed earlier run of this agent left behind are not ours any more: their
    // allocations are reported lost below and placed again.
    const orphans = await supervisor.reapOrphans()
    if (orphans.length > 0) log.warn({ orphans }, 'killed processes left by an earlier run')
    cleanup.push(async () => { await supervisor.stopAll() })
    log.info({ memoryEnforcement: supervisor.memoryEnforcement, why: supervisor.memoryEnforcementReason }, 'execution ready')

    let core: NodeCore | undefined
    const metrics = createAgentMetrics(() => core, () => Date.now())
    const runner: ProcessRunner = {
      start: (e, onExit) => {
        supervisor.start({
          allocationId: e.allocId, command: e.spec.command, env: e.spec.env,
          memoryMb: e.spec.resources.memoryMb, cpu: e.spec.resources.cpu, timeoutMs: e.spec.timeoutMs,
        }, (info) => onExit({
          allocId: info.allocationId, exitCode: info.exitCode, signal: info.signal, reason: info.reason,
          ...(info.message === undefined ? {} : { message: info.message }),
        }))
      },
      stop: (allocId, reason) => supervisor.stop(allocId, reason),
      remove: (allocId) => supervisor.remove(allocId),
    }
    const runtime = new CoreRuntime(host, { batch: (ops) => batchJson(store, ops) }, runner, metrics, log.child({ part: 'core' }))

    const view: AgentView = {
      nodeId: host.peerId,
      name: config.name,
      nodes: () => core?.nodes(Date.now()) ?? [],
      node: (idOrName) => core?.nodes(Date.now()).find((n) => n.id === idOrName || n.name === idOrName),
      subscribe: (listener) => runtime.subscribe(listener),
      watch: () => runtime.watch(),
      metrics: metrics.registry,
      jobs: async () => {
        const answer = await runtime.request({ op: 'list' })
        if (answer.status !== 200) throw replyError(answer)
        return (answer.body as { jobs: JobStatus[] }).jobs
      },
      job: async (id) => {
        const answer = await runtime.request({ op: 'get', id })
        if (answer.status === 404) return undefined
        // Not "no such job": the cluster did not answer in time, or no node of the job's cell was reachable.
        if (answer.status !== 200) throw replyError(answer)
        return answer.body as JobStatus
      },
      submitJob: (spec, key) => runtime.request({ op: 'submit', id: jobIdFor(key), spec, movable: key === undefined }),
      cancelJob: (id) => runtime.request({ op: 'cancel', id }),
      drainNode: (id, enable, deadlineMs) => runtime.request({ op: 'drain', node: id, enable, deadlineMs }),
      // Only for a job of our own cell: another cell's members (who store its jobs) are unknown here.
      storedOn: (id) => core === undefined || cellOf(id, config.cells) !== core.cell ? []
        : core.replicaSet(id).map((n) => core?.records().find((r) => r.id === n)?.name ?? n),
      readLocalLog: async (allocationId, stream, offset, maxBytes) => {
        let path: string
        try {
          path = supervisor.logPath(allocationId, stream)
        } catch {
          return undefined
        }
        try {
          const chunk = await readLog(path, { offset, maxBytes })
          return { data: chunk.data, next: chunk.next }
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
          throw err
        }
      },
    }
    const api = await createApiServer(view, { token: config.apiToken, logger: log.child({ part: 'api' }) })
    traceHttp(api)
    await api.listen({ host: config.apiHost, port: config.apiPort })
    cleanup.unshift(async () => { await api.close() })
    const address = api.server.address()
    const apiPort = typeof address === 'object' && address !== null ? address.port : config.apiPort
    const apiUrl = `http://${config.apiHost.includes(':') ? `[${config.apiHost}]` : config.apiHost}:${apiPort}`

    await host.start(runtime.handlers())
    cleanup.unshift(async () => { await host.stop() })
    const addrs = host.multiaddrs()
    const lastIncarnation = (await getJson<number>(store, 'self/incarnation')) ?? 0
    const drain = (await getJson<{ deadlineAt: number } | null>(store, DRAIN_KEY)) ?? null
    const storedJobs: JobRecord[] = []
    for await (const { value } of store.query({ prefix: '/job/' } satisfies Query)) storedJobs.push(JSON.parse(new TextDecoder().decode(value)) as JobRecord)
    const created = NodeCore.create({
      self: {
        id: host.peerId, name: config.name, addrs, api: apiUrl,
        resources: { total: { cpu: config.cpu, memoryMb: config.memoryMb }, free: { cpu: config.cpu, memoryMb: config.memoryMb } },
        labels: config.labels, draining: drain !== null, allocations: 0,
      },
      lastIncarnation, storedJobs, drain, config: profile, cells: config.cells, seed: randomInt(2 ** 31), now: Date.now(),
      jobsConfig: { ...JOBS_DEFAULTS, retentionMs: config.jobRetentionMs },
    })
    core = created.core
    runtime.attach(created.core, created.effects, profile.tickMs)
    log.info({ peer: host.peerId, api: apiUrl, addrs, storedJobs: storedJobs.length, cell: created.core.cell, cells: config.cells }, 'agent started')

    let stopping: Promise<void> | undefined
    return {
      nodeId: host.peerId,
      name: config.name,
      apiUrl,
      p2pAddr: addrs[0] ?? '',
      stopLimitMs: config.drainTimeoutMs + DEFAULT_GRACE_MS + 20_000,
      stop: () => {
        stopping ??= (async () => {
          await runtime.drain(config.drainTimeoutMs, DEFAULT_GRACE_MS).catch((err: unknown) => log.warn({ err }, 'drain failed'))
          await runtime.leave(LEAVE_LIMIT_MS)
          for (const fn of cleanup) await fn().catch((err: unknown) => log.warn({ err }, 'error while stopping'))
          log.info('agent stopped')
        })()
        return stopping
      },
    }
  } catch (err) {
    for (const fn of cleanup) await fn().catch(() => undefined)
    throw err
  }
}

/** A failed core answer as the API's error, keeping its status, code and message. */
function replyError(answer: ApiReply): ApiError {
  const error = (answer.body as Partial<ErrorBody> | undefined)?.error
  return new ApiError(answer.status, error?.code ?? 'unavailable', error?.message ?? `the cluster answered ${answer.status}`)
}

/**
 * A job's id. With an idempotency key it is derived from the key alone, so the same key gives the
 * same id on every node (and the same replicas, which already hold it); without one it is random.
 */
export function jobIdFor(idempotencyKey: string | undefined): string {
  const hex = idempotencyKey === undefined
    ? randomBytes(8).toString('hex')
    : createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 16)
  return `j-${hex}`
}
