// Half-open connections found from the channel's own traffic (liveness.ts), on real libp2p nodes:
// a peer that stops answering altogether (a process frozen with SIGSTOP: its kernel still holds
// the connection, nothing answers on it) has its connection closed once a request times out;
// a live peer whose handler is merely slow keeps it.
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import { pino } from 'pino'
import { toString as bytesToString } from 'uint8arrays/to-string'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RpcTimeoutError } from '../../src/node/host-errors.js'
import { ChannelRegistry, CHANNEL_STREAMS_PER_CONNECTION } from '../../src/node/channel-registry.js'
import { buildLibp2pOptions, type HostServices } from '../../src/node/libp2p-config.js'
import { MAX_MESSAGE_BYTES, RPC_PROTOCOL, TOPIC, bytes, rejectionOf, waitFor } from './host-harness.js'
import { spawnPeerProcess } from '../support/peer-process.js'

const LIVENESS_TIMEOUT_MS = 1_000

interface Node {
  libp2p: Libp2p<HostServices>
  registry: ChannelRegistry
}

/** Echoes, except 'hang', which is never answered. */
async function startNode(): Promise<Node> {
  const libp2p = await createLibp2p({
    ...buildLibp2pOptions({
      privateKey: await generateKeyPair('Ed25519'), listenHost: '127.0.0.1', listenPort: 0, join: [], mdns: false,
      topic: TOPIC, rpcProtocol: RPC_PROTOCOL, maxMessageBytes: MAX_MESSAGE_BYTES, colocated: true,
    }),
    start: false,
  })
  const registry = new ChannelRegistry(libp2p, {
    protocol: RPC_PROTOCOL, maxMessageBytes: MAX_MESSAGE_BYTES, log: pino({ level: 'silent' }), livenessTimeoutMs: LIVENESS_TIMEOUT_MS,
  })
  await libp2p.handle(RPC_PROTOCOL, registry.handler(async (_from, data) =>
    bytesToString(data) === 'hang' ? new Promise<Uint8Array>(() => undefined) : data),
  { maxInboundStreams: CHANNEL_STREAMS_PER_CONNECTION, maxOutboundStreams: CHANNEL_STREAMS_PER_CONNECTION })
  await libp2p.start()
  return { libp2p, registry }
}

describe('liveness of the connection under a channel', () => {
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

  it('keeps the connection of a live peer whose handler does not answer in time', async () => {
    expect(bytesToString(await a.registry.request(b.libp2p.peerId, bytes('hello'), { timeoutMs: 5_000 }))).toBe('hello')
    const connection = a.libp2p.getConnections(b.libp2p.peerId)[0]
    const { err } = await rejectionOf(() => a.registry.request(b.libp2p.peerId, bytes('hang'), { timeoutMs: 200 }))
    expect(err).toBeInstanceOf(RpcTimeoutError)
    await waitFor('the check answered', () => a.registry.livenessStats().answered === 1, LIVENESS_TIMEOUT_MS + 2_000)
    expect(a.registry.livenessStats()).toEqual({ checks: 1, answered: 1, closed: 0 })
    expect(connection?.status).toBe('open')
    expect(bytesToString(await a.registry.request(b.libp2p.peerId, bytes('still here'), { timeoutMs: 5_000 }))).toBe('still here')
  })

  it('closes the connection to a peer that answers nothing (SIGSTOPped), and reaches it again once it is back', async () => {
    const { child, exited, addr } = await spawnPeerProcess(RPC_PROTOCOL)
    try {
      const peer = peerIdFromString(addr.slice(addr.lastIndexOf('/') + 1))
      await a.libp2p.peerStore.merge(peer, { multiaddrs: [multiaddr(addr)] })
      expect(bytesToString(await a.registry.request(peer, bytes('hello'), { timeoutMs: 5_000 }))).toBe('hello')
      const before = { ...a.registry.livenessStats() }
      child.kill('SIGSTOP')
      const { err } = await rejectionOf(() => a.registry.request(peer, bytes('anyone?'), { timeoutMs: 200 }))
      expect(err).toBeInstanceOf(RpcTimeoutError)
      const ms = await waitFor('the connection to the frozen peer closed', () => a.libp2p.getConnections(peer).length === 0, LIVENESS_TIMEOUT_MS + 3_000)
      console.info(`connection to a frozen peer closed ${ms.toFixed(0)} ms after its request timed out`)
      expect(a.registry.livenessStats().closed).toBe(before.closed + 1)
      child.kill('SIGCONT')
      expect(bytesToString(await a.registry.request(peer, bytes('back'), { timeoutMs: 5_000 }))).toBe('back')
    } finally {
      child.kill('SIGCONT')
      child.kill('SIGKILL')
      await exited
    }
  })
})
