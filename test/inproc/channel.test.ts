// The per-peer request channel through the ClusterHost the agents use: real libp2p hosts on
// 127.0.0.1, many requests at once both ways, answers out of order, size caps on either side,
// a failing handler, a refused dial, and a peer SIGKILLed mid-request (in its own process).
import { createServer } from 'node:net'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { toString as bytesToString } from 'uint8arrays/to-string'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  MessageTooLargeError,
  PeerUnreachableError,
  RpcRemoteError,
  RpcTimeoutError,
} from '../../src/node/host.js'
import { MAX_MESSAGE_BYTES, RPC_PROTOCOL, bytes, rejectionOf, startTestHost, waitFor, type TestHost } from './host-harness.js'
import { spawnPeerProcess } from '../support/peer-process.js'

/** Echoes; `delay:<ms>:<tag>` answers after ms; `big:<n>` answers n bytes; `boom` throws. */
async function serve(_from: string, data: Uint8Array): Promise<Uint8Array> {
  const text = data.byteLength < 64 ? bytesToString(data) : ''
  if (text === 'boom') throw new Error('handler exploded on purpose')
  const delay = /^delay:(\d+):/.exec(text)
  if (delay !== null) await new Promise((r) => setTimeout(r, Number(delay[1])))
  const big = /^big:(\d+)$/.exec(text)
  if (big !== null) return new Uint8Array(Number(big[1])).fill(7)
  return data
}

describe('request channel between two hosts', () => {
  let a: TestHost
  let b: TestHost
  let big: TestHost

  beforeAll(async () => {
    a = await startTestHost({}, serve)
    b = await startTestHost({ join: a.host.multiaddrs() }, serve)
    // A peer whose cap is 4x ours: it may send us (and answer us) frames over our cap.
    big = await startTestHost({ maxMessageBytes: 4 * MAX_MESSAGE_BYTES, join: a.host.multiaddrs() }, serve)
    await waitFor('a connected to b and big', () => a.host.connectedPeers().length === 2)
  })

  afterAll(async () => {
    await Promise.all([a, b, big].map(({ host }) => host.stop()))
  })

  it('carries many concurrent requests both ways, each answered with its own body', async () => {
    const n = 500
    const send = (from: TestHost, to: TestHost, tag: string): Array<Promise<void>> => Array.from({ length: n }, async (_, i) => {
      const payload = bytes(`${tag}-${i}-${'x'.repeat(i % 97)}`)
      const answer = await from.host.request(to.host.peerId, payload, { timeoutMs: 10_000 })
      expect(bytesToString(answer)).toBe(bytesToString(payload))
    })
    const started = performance.now()
    await Promise.all([...send(a, b, 'ab'), ...send(b, a, 'ba')])
    console.info(`${2 * n} concurrent requests both ways took ${(performance.now() - started).toFixed(0)} ms`)
  })

  it('matches responses to requests by correlation id when they come back out of order', async () => {
    const finished: string[] = []
    await Promise.all(['delay:300:slow', 'delay:150:mid', 'delay:0:fast'].map(async (text) => {
      const answer = await a.host.request(b.host.peerId, bytes(text), { timeoutMs: 5_000 })
      expect(bytesToString(answer)).toBe(text)
      finished.push(text)
    }))
    expect(finished).toEqual(['delay:0:fast', 'delay:150:mid', 'delay:300:slow'])
  })

  it('has the server refuse a request frame over its cap while the channel serves the others', async () => {
    const before = a.rec.requests.length
    const [tooBig, ...others] = await Promise.allSettled([
      big.host.request(a.host.peerId, new Uint8Array(2 * MAX_MESSAGE_BYTES), { timeoutMs: 5_000 }),
      big.host.request(a.host.peerId, bytes('delay:20:one'), { timeoutMs: 5_000 }),
      big.host.request(a.host.peerId, bytes('two'), { timeoutMs: 5_000 }),
    ])
    expect(tooBig.status).toBe('rejected')
    const err = (tooBig as PromiseRejectedResult).reason as Error
    expect(err).toBeInstanceOf(MessageTooLargeError)
    expect(err.message).toMatch(/refused by the peer/)
    expect(others.map((r) => r.status === 'fulfilled' ? bytesToString(r.value) : r.reason)).toEqual(['delay:20:one', 'two'])
    // The oversized request never reached the handler.
    expect(a.rec.requests.length - before).toBe(2)
    expect(bytesToString(await big.host.request(a.host.peerId, bytes('after'), { timeoutMs: 5_000 }))).toBe('after')
  })

  it('fails a response over the requester\'s cap on its own, and the channel goes on', async () => {
    const [tooBig, other] = await Promise.allSettled([
      a.host.request(big.host.peerId, bytes(`big:${2 * MAX_MESSAGE_BYTES}`), { timeoutMs: 5_000 }),
      a.host.request(big.host.peerId, bytes('delay:20:next'), { timeoutMs: 5_000 }),
    ])
    expect((tooBig as PromiseRejectedResult).reason).toBeInstanceOf(MessageTooLargeError)
    expect(other.status === 'fulfilled' && bytesToString(other.value)).toBe('delay:20:next')
    const full = await a.host.request(big.host.peerId, bytes(`big:${MAX_MESSAGE_BYTES}`), { timeoutMs: 5_000 })
    expect(full.byteLength).toBe(MAX_MESSAGE_BYTES)
  })

  it('answers FAILED when the server\'s handler answers more than the server\'s own cap', async () => {
    const { err } = await rejectionOf(() => a.host.request(b.host.peerId, bytes(`big:${MAX_MESSAGE_BYTES + 1}`), { timeoutMs: 5_000 }))
    expect(err).toBeInstanceOf(RpcRemoteError)
    expect(err.message).toMatch(/exceeds/)
  })

  it('reports a throwing handler as RpcRemoteError, and the channel goes on', async () => {
    const { err } = await rejectionOf(() => a.host.request(b.host.peerId, bytes('boom'), { timeoutMs: 5_000 }))
    expect(err).toBeInstanceOf(RpcRemoteError)
    expect(err.message).toMatch(/handler exploded on purpose/)
    expect(bytesToString(await a.host.request(b.host.peerId, bytes('still here'), { timeoutMs: 5_000 }))).toBe('still here')
  })

  it('times out a slow answer without holding up the requests after it', async () => {
    const slow = rejectionOf(() => a.host.request(b.host.peerId, bytes('delay:1000:late'), { timeoutMs: 200 }))
    const quick = await a.host.request(b.host.peerId, bytes('quick'), { timeoutMs: 2_000 })
    expect(bytesToString(quick)).toBe('quick')
    const { err, ms } = await slow
    expect(err).toBeInstanceOf(RpcTimeoutError)
    expect(ms).toBeGreaterThanOrEqual(190)
    expect(ms).toBeLessThan(1_000)
  })

  it('says refused when nothing listens at the peer\'s address', async () => {
    const port = await new Promise<number>((res) => {
      const server = createServer()
      server.listen(0, '127.0.0.1', () => {
        const address = server.address()
        server.close(() => res(typeof address === 'object' && address !== null ? address.port : 0))
      })
    })
    const ghost = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const { err, ms } = await rejectionOf(() => a.host.request(ghost, bytes('anyone?'), {
      timeoutMs: 5_000, addrs: [`/ip4/127.0.0.1/tcp/${port}/p2p/${ghost}`],
    }))
    expect(err).toBeInstanceOf(PeerUnreachableError)
    expect((err as PeerUnreachableError).refused).toBe(true)
    expect(ms).toBeLessThan(1_000)
  })
})

describe('request channel to a peer that is SIGKILLed', () => {
  let a: TestHost

  beforeAll(async () => {
    a = await startTestHost()
  })

  afterAll(async () => {
    await a.host.stop()
  })

  it('fails the requests in flight as unreachable at once, then says refused', async () => {
    const { child, exited, addr } = await spawnPeerProcess(RPC_PROTOCOL)
    try {
      const peer = addr.slice(addr.lastIndexOf('/') + 1)
      expect(bytesToString(await a.host.request(peer, bytes('hello'), { timeoutMs: 5_000, addrs: [addr] }))).toBe('hello')
      const inFlight = Array.from({ length: 5 }, () => rejectionOf(() => a.host.request(peer, bytes('hang'), { timeoutMs: 10_000 })))
      const killedAt = performance.now()
      child.kill('SIGKILL')
      for (const { err } of await Promise.all(inFlight)) expect(err).toBeInstanceOf(PeerUnreachableError)
      const ms = performance.now() - killedAt
      console.info(`requests in flight failed ${ms.toFixed(0)} ms after the SIGKILL`)
      expect(ms).toBeLessThan(1_000)
      await exited
      const { err } = await rejectionOf(() => a.host.request(peer, bytes('again?'), { timeoutMs: 5_000, addrs: [addr] }))
      expect(err).toBeInstanceOf(PeerUnreachableError)
      expect((err as PeerUnreachableError).refused).toBe(true)
    } finally {
      child.kill('SIGKILL')
      await exited
    }
  })
})
