// Join retries: a node started before its seed still joins once the seed comes up, and finds
// it again after the seed restarts with the same identity on the same port.
import { createServer } from 'node:net'
import { afterAll, describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { startTestHost, waitFor, type TestHost } from './host-harness.js'

/** A port that was free a moment ago (the OS picks it; we release it for the seed). */
async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => { resolve() }))
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

describe('join retries', () => {
  const started: TestHost[] = []

  afterAll(async () => {
    await Promise.all(started.map(({ host }) => host.stop()))
  })

  it('joins a seed that starts after the node, and again after the seed restarts', async () => {
    const seedKey = await generateKeyPair('Ed25519')
    const seedId = peerIdFromPrivateKey(seedKey).toString()
    const port = await freePort()
    const joiner = await startTestHost({ join: [`/ip4/127.0.0.1/tcp/${port}/p2p/${seedId}`] })
    started.push(joiner)
    expect(joiner.host.connectedPeers()).toEqual([])
    // Alone, a node can still publish: the message just reaches nobody.
    await joiner.host.publish(new TextEncoder().encode('anyone?'))

    const seed = await startTestHost({ privateKey: seedKey, listenPort: port })
    started.push(seed)
    const ms = await waitFor('joiner connected to the late seed', () => joiner.host.connectedPeers().includes(seedId))
    console.info(`joined a late seed ${ms.toFixed(0)} ms after it started`)
    expect(ms).toBeLessThan(5_000)

    await seed.host.stop()
    await waitFor('joiner saw the seed leave', () => joiner.rec.disconnected.includes(seedId))
    const again = await startTestHost({ privateKey: seedKey, listenPort: port })
    started.push(again)
    await waitFor('joiner reconnected to the restarted seed', () => joiner.host.connectedPeers().includes(seedId))
    expect(joiner.rec.connected.filter((p) => p === seedId)).toHaveLength(2)
  })
})
