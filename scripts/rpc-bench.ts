// `npx tsx scripts/rpc-bench.ts`: request throughput and latency between real libp2p cluster hosts
// in one process (127.0.0.1, echo handler), through the same ClusterHost.request the agents use.
// For each concurrency level it runs for --seconds, then prints req/s and latency p50/p99.
//   --hosts N          hosts in the process (default 2); with more, every host sends to every other
//   --concurrency L    comma list of requests in flight per sending pair (default 1,16,128)
//   --seconds S        per level (default 5); --warmup S before the first level (default 1)
//   --bytes B          request and response size (default 200: a typical core message)
//   --both             with 2 hosts, both send at once (default: host 1 sends to host 2)
// Everything runs on 127.0.0.1 and is stopped before the script exits; loops are bounded in time.
import '../src/node/polyfill.js'
import { parseArgs } from 'node:util'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createClusterHost, type ClusterHost } from '../src/node/host.js'
import { CHANNEL_PROTOCOL } from '../src/node/channel-registry.js'

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '1,16,128' },
    seconds: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    bytes: { type: 'string', default: '200' },
    both: { type: 'boolean', default: false },
  },
})

const TIMEOUT_MS = 5_000

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN
}

async function startHost(join: string[]): Promise<ClusterHost> {
  const host = await createClusterHost({
    privateKey: await generateKeyPair('Ed25519'), listenHost: '127.0.0.1', listenPort: 0, join, mdns: false,
    topic: '/murmur-bench/cluster/1', rpcProtocol: CHANNEL_PROTOCOL, maxMessageBytes: 4 * 1024 * 1024, colocated: true,
  })
  await host.start({
    onGossip: () => undefined,
    onRequest: async (_from, data) => data,
    onPeerConnected: () => undefined,
    onPeerDisconnected: () => undefined,
  })
  return host
}

interface Run { done: number; failed: number; latencies: number[]; seconds: number }

/** `concurrency` loops per (from, to) pair, each sending its next request when the last answered. */
async function run(pairs: Array<[ClusterHost, ClusterHost]>, concurrency: number, seconds: number, payload: Uint8Array): Promise<Run> {
  const latencies: number[] = []
  let failed = 0
  const until = performance.now() + seconds * 1000
  const loop = async (from: ClusterHost, to: ClusterHost): Promise<void> => {
    while (performance.now() < until) {
      const t0 = performance.now()
      try {
        await from.request(to.peerId, payload, { timeoutMs: TIMEOUT_MS })
        latencies.push(performance.now() - t0)
      } catch {
        failed++
      }
    }
  }
  const started = performance.now()
  await Promise.all(pairs.flatMap(([a, b]) => Array.from({ length: concurrency }, () => loop(a, b))))
  return { done: latencies.length, failed, latencies: latencies.sort((x, y) => x - y), seconds: (performance.now() - started) / 1000 }
}

async function main(): Promise<void> {
  const n = Math.max(2, Number(values.hosts))
  const payload = new Uint8Array(Number(values.bytes)).map((_, i) => i % 251)
  const hosts: ClusterHost[] = []
  try {
    hosts.push(await startHost([]))
    for (let i = 1; i < n; i++) hosts.push(await startHost(hosts[0]!.multiaddrs()))
    const pairs: Array<[ClusterHost, ClusterHost]> = []
    for (const a of hosts) for (const b of hosts) if (a !== b) pairs.push([a, b])
    const active = n === 2 && values.both !== true ? pairs.slice(0, 1) : pairs
    // Connections (and any long-lived state) are set up before anything is timed.
    for (const [a, b] of active) await a.request(b.peerId, payload, { timeoutMs: TIMEOUT_MS, addrs: b.multiaddrs() })
    await run(active, 4, Number(values.warmup), payload)
    console.log(`hosts=${n} pairs=${active.length} bytes=${payload.byteLength} protocol=${CHANNEL_PROTOCOL}`)
    console.log('inflight/pair  req/s   p50 ms  p99 ms  failed')
    for (const c of (values.concurrency ?? '').split(',').map(Number).filter((x) => x > 0)) {
      const r = await run(active, c, Number(values.seconds), payload)
      console.log(`${String(c).padStart(13)}  ${(r.done / r.seconds).toFixed(0).padStart(6)}  ${pct(r.latencies, 50).toFixed(2).padStart(6)}  ${pct(r.latencies, 99).toFixed(2).padStart(6)}  ${r.failed}`)
    }
  } finally {
    await Promise.all(hosts.map((h) => h.stop()))
  }
}

await main()
