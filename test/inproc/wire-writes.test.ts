// What one message costs on the wire between two real libp2p nodes on 127.0.0.1 (TCP, noise,
// yamux as the host builds them): one socket write per message, no window update coming back
// for each small one, and a bulk transfer that still gets the credit it needs. Socket writes are
// counted by watching net.Socket#write (the real one runs).
import { Socket } from 'node:net'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createLibp2p, type Libp2p } from 'libp2p'
import type { Stream } from '@libp2p/interface'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi, type MockInstance } from 'vitest'
import { YAMUX_KEEPALIVE_MS } from '../../src/gossip/topics.js'
import { buildLibp2pOptions } from '../../src/node/libp2p-config.js'
import { QUIET_SHORT_READS } from '../../src/node/noise-reads.js'
import { ONE_WRITE, oneWriteEncrypter } from '../../src/node/one-write.js'
import { LAZY_WINDOW, lazyWindowYamux } from '../../src/node/yamux-window.js'
import { MAX_MESSAGE_BYTES, RPC_PROTOCOL, TOPIC, waitFor } from './host-harness.js'

const SINK = '/murmur-test/sink/1.0.0'

/** A node with only what a message passes through: TCP, noise, yamux, no services. */
async function bareNode(): Promise<Libp2p> {
  return createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [oneWriteEncrypter(noise())],
    streamMuxers: [lazyWindowYamux()],
    connectionMonitor: { enabled: false },
  })
}

function portOf(node: Libp2p): number {
  return Number(node.getMultiaddrs()[0]?.toString().split('/tcp/')[1]?.split('/')[0])
}

describe('bytes on the wire per message', () => {
  let a: Libp2p
  let b: Libp2p
  let bPort: number
  /** Everything b's sink stream received, in order. */
  const received: Uint8Array[] = []
  let writes: MockInstance<Socket['write']> | undefined

  beforeAll(async () => {
    a = await bareNode()
    b = await bareNode()
    bPort = portOf(b)
    await b.handle(SINK, (stream: Stream) => {
      stream.addEventListener('message', (evt) => { received.push(evt.data.subarray()) })
    })
  })

  afterEach(() => {
    writes?.mockRestore()
    writes = undefined
    received.length = 0
  })

  afterAll(async () => {
    await Promise.all([a.stop(), b.stop()])
  })

  /** Socket writes since the spy started: a's side of the connection to b, and b's side. */
  function writesBy(): { a: number; b: number } {
    const sockets = (writes?.mock.contexts ?? []) as Socket[]
    return {
      a: sockets.filter((s) => s.remotePort === bPort).length,
      b: sockets.filter((s) => s.localPort === bPort).length,
    }
  }

  async function openSink(): Promise<Stream> {
    const stream = await a.dialProtocol(b.getMultiaddrs(), SINK)
    // The first message opens b's side; from here on the connection is quiet but for what we send.
    stream.send(new Uint8Array([0]))
    await waitFor('b received the opening byte', () => received.length > 0)
    received.length = 0
    return stream
  }

  it('writes each small message with one socket write, and nothing comes back for it', async () => {
    const stream = await openSink()
    writes = vi.spyOn(Socket.prototype, 'write')
    const n = 40
    for (let i = 0; i < n; i++) {
      stream.send(new Uint8Array(100).fill(i))
      // One message per event-loop turn, as probes and their answers go out.
      await new Promise((r) => setImmediate(r))
    }
    await waitFor(`b received ${n} messages`, () => received.reduce((sum, m) => sum + m.byteLength, 0) === n * 100)
    const counted = writesBy()
    expect(counted.a).toBe(n)
    expect(counted.b).toBe(0)
    stream.abort(new Error('test done'))
  })

  it('still grants credit for a bulk transfer, in order, with an update per half window instead of per frame', async () => {
    const stream = await openSink()
    writes = vi.spyOn(Socket.prototype, 'write')
    const total = 4 * 1024 * 1024
    const chunk = 16 * 1024
    for (let sent = 0; sent < total; sent += chunk) {
      const part = new Uint8Array(chunk)
      for (let i = 0; i < chunk; i += 4096) part[i] = ((sent + i) / 4096) % 256
      if (!stream.send(part)) await stream.onDrain()
    }
    await waitFor('b received every byte', () => received.reduce((sum, m) => sum + m.byteLength, 0) === total, 20_000)
    const all = Buffer.concat(received)
    for (let i = 0; i < total; i += 4096) expect(all[i]).toBe((i / 4096) % 256)
    // 4 MiB is more than the 256 KiB initial window: without updates the sender would stall.
    const updates = writesBy().b
    expect(updates).toBeGreaterThan(0)
    expect(updates).toBeLessThanOrEqual(total / (128 * 1024) + 2)
    stream.abort(new Error('test done'))
  })

  it('is how the host builds its libp2p node', async () => {
    const host = await createLibp2p(buildLibp2pOptions({
      privateKey: await generateKeyPair('Ed25519'), listenHost: '127.0.0.1', listenPort: 0, join: [], mdns: false,
      topic: TOPIC, rpcProtocol: RPC_PROTOCOL, maxMessageBytes: MAX_MESSAGE_BYTES, colocated: true,
    }))
    try {
      const stream = await host.dialProtocol(b.getMultiaddrs(), SINK)
      expect((stream as unknown as Record<symbol, unknown>)[LAZY_WINDOW]).toBe(true)
      // The TCP connection under the encryption (libp2p keeps it as the connection's maConn).
      const tcpConn = (host.getConnections(b.peerId)[0] as unknown as { maConn?: Record<symbol, unknown> }).maConn
      expect(tcpConn?.[ONE_WRITE]).toBe(true)
      // The encrypted connection between the two (the muxer's transport) reads without a throw.
      expect(findMarked(host.getConnections(b.peerId)[0], QUIET_SHORT_READS)).toBe(true)
      // yamux pings each connection at our period, not its 30 s default (YAMUX_KEEPALIVE_MS).
      const muxer = (host.getConnections(b.peerId)[0] as unknown as { muxer?: { keepAliveInterval?: number } }).muxer
      expect(muxer?.keepAliveInterval).toBe(YAMUX_KEEPALIVE_MS)
      stream.abort(new Error('test done'))
    } finally {
      await host.stop()
    }
  })
})

/** Whether an object reachable from `root` (a few levels down) carries `mark`: where libp2p keeps the secured connection is not public. */
function findMarked(root: unknown, mark: symbol): boolean {
  const seen = new Set<unknown>()
  const visit = (o: unknown, depth: number): boolean => {
    if (o === null || typeof o !== 'object' || seen.has(o) || depth > 5) return false
    seen.add(o)
    if ((o as Record<symbol, unknown>)[mark] === true) return true
    return Object.keys(o).some((k) => visit((o as Record<string, unknown>)[k], depth + 1))
  }
  return visit(root, 0)
}
