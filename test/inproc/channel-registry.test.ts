// The channel registry on real libp2p nodes, where the streams themselves can be seen: one stream
// per peer however many requests, a new one after the connection drops, the bound on requests
// waiting for one peer, and the bounds that keep a hanging handler from pinning anything.
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createLibp2p, type Libp2p } from 'libp2p'
import { pino } from 'pino'
import { toString as bytesToString } from 'uint8arrays/to-string'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ChannelBusyError, PeerUnreachableError, RpcRemoteError, RpcTimeoutError } from '../../src/node/host-errors.js'
import { ChannelRegistry, CHANNEL_STREAMS_PER_CONNECTION } from '../../src/node/channel-registry.js'
import { MAX_SERVED_PER_STREAM } from '../../src/node/channel-server.js'
import { buildLibp2pOptions, type HostServices } from '../../src/node/libp2p-config.js'
import { MAX_MESSAGE_BYTES, RPC_PROTOCOL, TOPIC, bytes, rejectionOf, waitFor } from './host-harness.js'

const SERVE_TIMEOUT_MS = 300
const MAX_PENDING = 20

interface Node {
  libp2p: Libp2p<HostServices>
  registry: ChannelRegistry
  /** Requests inside the handler right now, and the most there ever were. */
  gate: { active: number; max: number; release: Array<() => void> }
}

async function startNode(): Promise<Node> {
  const libp2p = await createLibp2p({
    ...buildLibp2pOptions({
      privateKey: await generateKeyPair('Ed25519'), listenHost: '127.0.0.1', listenPort: 0, join: [], mdns: false,
      topic: TOPIC, rpcProtocol: RPC_PROTOCOL, maxMessageBytes: MAX_MESSAGE_BYTES, colocated: true,
    }),
    start: false,
  })
  const registry = new ChannelRegistry(libp2p, {
    protocol: RPC_PROTOCOL, maxMessageBytes: MAX_MESSAGE_BYTES, log: pino({ level: 'silent' }), serveTimeoutMs: SERVE_TIMEOUT_MS,
  })
  const gate: Node['gate'] = { active: 0, max: 0, release: [] }
  await libp2p.handle(RPC_PROTOCOL, registry.handler(async (_from, data) => {
    const text = bytesToString(data)
    if (text === 'hang') return new Promise<Uint8Array>(() => undefined)
    if (text === 'gate') {
      gate.active++
      gate.max = Math.max(gate.max, gate.active)
      await new Promise<void>((res) => gate.release.push(res))
      gate.active--
    }
    return data
  }), { maxInboundStreams: CHANNEL_STREAMS_PER_CONNECTION, maxOutboundStreams: CHANNEL_STREAMS_PER_CONNECTION })
  await libp2p.start()
  return { libp2p, registry, gate }
}

function channelStreams(from: Node, to: Node, direction: 'inbound' | 'outbound'): number {
  return from.libp2p.getConnections(to.libp2p.peerId)
    .flatMap((c) => c.streams)
    .filter((s) => s.protocol === RPC_PROTOCOL && s.direction === direction && s.status === 'open').length
}

describe('channel registry', () => {
  let a: Node
  let b: Node

  beforeAll(async () => {
    a = await startNode()
    b = await startNode()
    await a.libp2p.peerStore.merge(b.libp2p.peerId, { multiaddrs: b.libp2p.getMultiaddrs() })
  })

  afterAll(async () => {
    for (const n of [a, b]) {
      n.registry.close()
      await n.libp2p.stop()
    }
  })

  it('sends every request to a peer over one stream', async () => {
    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) =>
      a.registry.request(b.libp2p.peerId, bytes(`r${i}`), { timeoutMs: 5_000 })))
    expect(answers.map((x) => bytesToString(x))).toEqual(Array.from({ length: 200 }, (_, i) => `r${i}`))
    for (let i = 0; i < 50; i++) await a.registry.request(b.libp2p.peerId, bytes('again'), { timeoutMs: 5_000 })
    expect(a.registry.openChannels()).toBe(1)
    expect(channelStreams(a, b, 'outbound')).toBe(1)
    await waitFor('b sees one inbound channel stream', () => channelStreams(b, a, 'inbound') === 1)
  })

  it('fails requests in flight as unreachable when the connection drops, and reconnects for the next', async () => {
    await a.registry.request(b.libp2p.peerId, bytes('warm'), { timeoutMs: 5_000 })
    const inFlight = Array.from({ length: 3 }, () => rejectionOf(() => a.registry.request(b.libp2p.peerId, bytes('hang'), { timeoutMs: 10_000 })))
    // Let the frames leave before the connection goes (the writer flushes once per event-loop turn).
    await new Promise((r) => setImmediate(r))
    await b.libp2p.hangUp(a.libp2p.peerId)
    for (const { err, ms } of await Promise.all(inFlight)) {
      expect(err).toBeInstanceOf(PeerUnreachableError)
      expect(ms).toBeLessThan(1_000)
    }
    await waitFor('a dropped the dead channel', () => a.registry.openChannels() === 0)
    expect(bytesToString(await a.registry.request(b.libp2p.peerId, bytes('back'), { timeoutMs: 5_000 }))).toBe('back')
    expect(a.registry.openChannels()).toBe(1)
    expect(channelStreams(a, b, 'outbound')).toBe(1)
  })

  it('refuses a request at once when too many already wait for that peer, and recovers', async () => {
    const bounded = new ChannelRegistry(a.libp2p, {
      protocol: RPC_PROTOCOL, maxMessageBytes: MAX_MESSAGE_BYTES, log: pino({ level: 'silent' }), maxPendingPerPeer: MAX_PENDING,
    })
    try {
      // Deadlines under b's serve limit: these end as our own timeouts.
      const waiting = Array.from({ length: MAX_PENDING }, () => rejectionOf(() => bounded.request(b.libp2p.peerId, bytes('hang'), { timeoutMs: SERVE_TIMEOUT_MS / 2 })))
      const { err, ms } = await rejectionOf(() => bounded.request(b.libp2p.peerId, bytes('one more'), { timeoutMs: 5_000 }))
      expect(err).toBeInstanceOf(ChannelBusyError)
      // To the core this is a timeout (weak evidence), never an unreachable peer.
      expect(err).toBeInstanceOf(RpcTimeoutError)
      expect(ms).toBeLessThan(100)
      for (const r of await Promise.all(waiting)) expect(r.err.name).toBe('RpcTimeoutError')
      expect(bytesToString(await bounded.request(b.libp2p.peerId, bytes('room again'), { timeoutMs: 5_000 }))).toBe('room again')
    } finally {
      bounded.close()
    }
  })

  it('answers FAILED for a handler that never settles, once the serve limit passes', async () => {
    const { err, ms } = await rejectionOf(() => a.registry.request(b.libp2p.peerId, bytes('hang'), { timeoutMs: 5_000 }))
    expect(err).toBeInstanceOf(RpcRemoteError)
    expect(err.message).toMatch(new RegExp(`did not answer within ${SERVE_TIMEOUT_MS} ms`))
    expect(ms).toBeGreaterThanOrEqual(SERVE_TIMEOUT_MS - 10)
    expect(ms).toBeLessThan(SERVE_TIMEOUT_MS + 1_000)
  })

  it('lets one peer hold at most MAX_SERVED_PER_STREAM handlers at once; the rest wait and are served', async () => {
    // Its own registry with room for them all in flight, and a deadline past the whole exchange.
    const sender = new ChannelRegistry(a.libp2p, { protocol: RPC_PROTOCOL, maxMessageBytes: MAX_MESSAGE_BYTES, log: pino({ level: 'silent' }) })
    try {
      const total = MAX_SERVED_PER_STREAM + 100
      let done = 0
      const all = Promise.all(Array.from({ length: total }, async () => {
        const answer = await sender.request(b.libp2p.peerId, bytes('gate'), { timeoutMs: 20_000 })
        done++
        return answer
      }))
      await waitFor('the handler full', () => b.gate.active === MAX_SERVED_PER_STREAM)
      // Release what is in, again and again, until everything was served.
      await waitFor('every request served', () => {
        for (const release of b.gate.release.splice(0)) release()
        return done === total
      }, 15_000)
      expect((await all).length).toBe(total)
      expect(b.gate.max).toBe(MAX_SERVED_PER_STREAM)
    } finally {
      sender.close()
    }
  })
})
