// Private networks (pnet): hosts sharing a swarm key connect; a host with another key, or none,
// never gets a connection in either direction.
import { afterAll, describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { toString as bytesToString } from 'uint8arrays/to-string'
import {
  InvalidHostOptionsError,
  PeerUnreachableError,
  RpcTimeoutError,
  createClusterHost,
  generateSwarmKey,
} from '../../src/node/host.js'
import { MAX_MESSAGE_BYTES, RPC_PROTOCOL, TOPIC, bytes, rejectionOf, startTestHost, waitFor, type TestHost } from './host-harness.js'

describe('pnet', () => {
  const started: TestHost[] = []
  const start = async (...args: Parameters<typeof startTestHost>): Promise<TestHost> => {
    const h = await startTestHost(...args)
    started.push(h)
    return h
  }

  afterAll(async () => {
    await Promise.all(started.map(({ host }) => host.stop()))
  })

  it('generates swarm keys in the pnet v1 file format, a fresh one each time', () => {
    const a = generateSwarmKey()
    expect(bytesToString(a)).toMatch(/^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}$/)
    expect(bytesToString(generateSwarmKey())).not.toBe(bytesToString(a))
  })

  it('rejects a malformed swarm key at creation', async () => {
    await expect(createClusterHost({
      privateKey: await generateKeyPair('Ed25519'),
      listenHost: '127.0.0.1',
      listenPort: 0,
      join: [],
      mdns: false,
      swarmKey: bytes('not a swarm key'),
      topic: TOPIC,
      rpcProtocol: RPC_PROTOCOL,
      maxMessageBytes: MAX_MESSAGE_BYTES,
      colocated: true,
    })).rejects.toBeInstanceOf(InvalidHostOptionsError)
  })

  it('connects hosts that share a key and keeps out hosts with another key or none', async () => {
    const key = generateSwarmKey()
    const a = await start({ swarmKey: key })
    const b = await start({ swarmKey: key, join: a.host.multiaddrs() })
    await waitFor('a and b connected', () => a.host.connectedPeers().includes(b.host.peerId))
    expect(await b.host.request(a.host.peerId, bytes('inside'), { timeoutMs: 5_000 })).toEqual(bytes('inside'))

    // Both outsiders keep retrying their join to `a` in the background while we probe.
    const otherKey = await start({ swarmKey: generateSwarmKey(), join: a.host.multiaddrs() })
    const noKey = await start({ join: a.host.multiaddrs() })
    const probes = [
      [otherKey, a], [noKey, a], [a, otherKey], [a, noKey],
    ] as const
    for (const [from, to] of probes) {
      // Abort-bounded: a pnet handshake against a non-matching peer may hang rather than fail.
      const { err } = await rejectionOf(() =>
        from.host.request(to.host.peerId, bytes('let me in'), { timeoutMs: 1_000, addrs: to.host.multiaddrs() }))
      console.info(`pnet probe rejected: ${err.name}: ${err.message.slice(0, 120)}`)
      expect([RpcTimeoutError, PeerUnreachableError].some((cls) => err instanceof cls)).toBe(true)
    }
    expect(otherKey.host.connectedPeers()).toEqual([])
    expect(noKey.host.connectedPeers()).toEqual([])
    expect(a.host.connectedPeers()).toEqual([b.host.peerId])
    expect(a.rec.requests.map((r) => r.from)).toEqual([b.host.peerId])
  })
})
