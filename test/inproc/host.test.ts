// Five real libp2p hosts in one process on 127.0.0.1: peer exchange builds a full mesh from a
// star of joins, gossip reaches everyone, rpc round-trips and fails the right way.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  MessageTooLargeError,
  PeerUnreachableError,
  RpcRemoteError,
  RpcTimeoutError,
} from '../../src/node/host.js'
import { MAX_MESSAGE_BYTES, bytes, rejectionOf, startTestHost, waitFor, type TestHost } from './host-harness.js'

describe('cluster host (5 in-process nodes)', () => {
  const nodes: TestHost[] = []
  const extra: TestHost[] = []
  const node = (n: number): TestHost => nodes[n - 1] as TestHost

  beforeAll(async () => {
    nodes.push(await startTestHost())
    const seed = node(1).host.multiaddrs()
    for (let i = 2; i <= 5; i++) nodes.push(await startTestHost({ join: seed }))
  })

  afterAll(async () => {
    await Promise.all([...nodes, ...extra].map(({ host }) => host.stop()))
  })

  it('advertises listen addresses that end in its peer id', () => {
    const addrs = node(1).host.multiaddrs()
    expect(addrs.length).toBeGreaterThan(0)
    for (const addr of addrs) expect(addr).toMatch(new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${node(1).host.peerId}$`))
  })

  it('reaches a full mesh although nodes 2..5 only joined node 1 (peer exchange)', async () => {
    const ms = await waitFor('every host connected to the 4 others',
      () => nodes.every(({ host }) => host.connectedPeers().length === 4), 15_000)
    console.info(`full mesh of 5 after ${ms.toFixed(0)} ms`)
    for (const { host, rec } of nodes) {
      const others = nodes.filter((n) => n.host !== host).map((n) => n.host.peerId).sort()
      expect([...host.connectedPeers()].sort()).toEqual(others)
      expect([...new Set(rec.connected)].sort()).toEqual(others)
    }
  })

  it('delivers a gossip message from node 3 to every other node, naming the author', async () => {
    const text = `hello from 3 at ${Date.now()}`
    await node(3).host.publish(bytes(text))
    const ms = await waitFor('gossip delivered to nodes 1, 2, 4, 5', () =>
      [1, 2, 4, 5].every((n) => node(n).rec.gossip.some((g) => g.text === text)))
    console.info(`gossip reached all 4 peers after ${ms.toFixed(0)} ms`)
    for (const n of [1, 2, 4, 5]) {
      const got = node(n).rec.gossip.filter((g) => g.text === text)
      expect(got).toEqual([{ from: node(3).host.peerId, text }])
    }
    expect(node(3).rec.gossip.some((g) => g.text === text)).toBe(false)
  })

  it('refuses to publish a message over maxMessageBytes', async () => {
    await expect(node(2).host.publish(new Uint8Array(MAX_MESSAGE_BYTES + 1))).rejects.toBeInstanceOf(MessageTooLargeError)
  })

  it('round-trips a request (echo)', async () => {
    const payload = new Uint8Array(MAX_MESSAGE_BYTES).map((_, i) => i % 251)
    const started = performance.now()
    const response = await node(2).host.request(node(5).host.peerId, payload, { timeoutMs: 5_000 })
    console.info(`64 KiB echo took ${(performance.now() - started).toFixed(0)} ms`)
    expect(response.constructor).toBe(Uint8Array)
    // Byte-wise compare: a deep toEqual over 64 Ki elements costs about a second.
    expect(Buffer.compare(response, payload)).toBe(0)
    expect(node(5).rec.requests.at(-1)).toEqual({ from: node(2).host.peerId, bytes: MAX_MESSAGE_BYTES })
  })

  it('rejects an oversized request locally, before it is sent', async () => {
    const before = node(5).rec.requests.length
    const { err } = await rejectionOf(() =>
      node(2).host.request(node(5).host.peerId, new Uint8Array(MAX_MESSAGE_BYTES + 1), { timeoutMs: 5_000 }))
    expect(err).toBeInstanceOf(MessageTooLargeError)
    expect(node(5).rec.requests.length).toBe(before)
  })

  describe('with a peer whose cap is 4x bigger', () => {
    let big: TestHost

    beforeAll(async () => {
      // No join: it reaches node 5 through the request's address hint alone.
      big = await startTestHost({ maxMessageBytes: 4 * MAX_MESSAGE_BYTES })
      extra.push(big)
    })

    afterAll(async () => {
      await big.host.stop()
    })

    it('has the server refuse a frame over its cap, without calling onRequest', async () => {
      const before = node(5).rec.requests.length
      const { err } = await rejectionOf(() => big.host.request(node(5).host.peerId, new Uint8Array(2 * MAX_MESSAGE_BYTES),
        { timeoutMs: 5_000, addrs: node(5).host.multiaddrs() }))
      expect(err).toBeInstanceOf(MessageTooLargeError)
      expect(err.message).toMatch(/refused by the peer/)
      expect(node(5).rec.requests.length).toBe(before)
      // The connection survives the refusal: a normal request on it still works.
      expect(await big.host.request(node(5).host.peerId, bytes('ok'), { timeoutMs: 5_000 })).toEqual(bytes('ok'))
    })

    it('has receivers drop a gossip message over their cap', async () => {
      const receivers = [1, 2, 3, 5].map(node)
      // Gossip is not reliable (big's subscriptions may still be spreading), so publish small
      // markers until every node has one of the round; then big surely knows every subscriber.
      let i = 0
      const markersReachAll = (round: string): Promise<number> => waitFor(`a ${round} marker reached nodes 1, 2, 3, 5`, () => {
        void big.host.publish(bytes(`${round} ${i++}`))
        return receivers.every(({ rec }) => rec.gossip.some((g) => g.from === big.host.peerId && g.text.startsWith(round)))
      })
      await markersReachAll('first')
      await big.host.publish(new Uint8Array(2 * MAX_MESSAGE_BYTES))
      // Flood-published on the same stream as the markers that follow, so it arrived first.
      await markersReachAll('second')
      for (const { rec } of receivers) {
        const fromBig = rec.gossip.filter((g) => g.from === big.host.peerId)
        expect(fromBig.every((g) => /^(first|second) \d+$/.test(g.text))).toBe(true)
      }
    })
  })

  it('reports a failing remote handler as RpcRemoteError', async () => {
    const { err } = await rejectionOf(() => node(1).host.request(node(4).host.peerId, bytes('boom'), { timeoutMs: 5_000 }))
    expect(err).toBeInstanceOf(RpcRemoteError)
    expect(err.message).toMatch(/handler exploded on purpose/)
  })

  it('times out a request whose handler never answers', async () => {
    const { err, ms } = await rejectionOf(() => node(1).host.request(node(4).host.peerId, bytes('hang'), { timeoutMs: 300 }))
    expect(err).toBeInstanceOf(RpcTimeoutError)
    expect(ms).toBeGreaterThanOrEqual(290)
    expect(ms).toBeLessThan(2_000)
  })

  it('treats a caller abort like a timeout', async () => {
    const controller = new AbortController()
    const pending = rejectionOf(() => node(1).host.request(node(4).host.peerId, bytes('hang'), { timeoutMs: 10_000, signal: controller.signal }))
    controller.abort()
    expect((await pending).err).toBeInstanceOf(RpcTimeoutError)
  })

  it('fails a request to a stopped peer fast, and tells the others it left', async () => {
    const victim = node(4).host.peerId
    await node(4).host.stop()
    const { err, ms } = await rejectionOf(() => node(2).host.request(victim, bytes('anyone there?'), { timeoutMs: 5_000 }))
    console.info(`request to a stopped peer failed after ${ms.toFixed(0)} ms: ${err.name}: ${err.message}`)
    expect(err).toBeInstanceOf(PeerUnreachableError)
    // Nothing listens at its address any more: the failure says so (the detector's fast path).
    expect((err as PeerUnreachableError).refused).toBe(true)
    expect(ms).toBeLessThan(2_000)
    const survivors = [1, 2, 3, 5].map(node)
    await waitFor('every survivor saw node 4 disconnect', () => survivors.every(({ rec }) => rec.disconnected.includes(victim)))
    for (const { host, rec } of survivors) {
      expect(host.connectedPeers()).not.toContain(victim)
      expect(rec.disconnected.filter((p) => p === victim)).toHaveLength(1)
    }
  })
})
