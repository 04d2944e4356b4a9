// Shared helpers for in-process host tests: start real hosts on 127.0.0.1 that record what their
// handlers saw, and poll for conditions against a deadline (never a fixed sleep).
import { generateKeyPair } from '@libp2p/crypto/keys'
import { fromString as bytesFromString } from 'uint8arrays/from-string'
import { toString as bytesToString } from 'uint8arrays/to-string'
import { createClusterHost, type ClusterHost, type HostHandlers, type HostOptions } from '../../src/node/host.js'

export const TOPIC = '/murmur-test/cluster/1'
export const RPC_PROTOCOL = '/murmur-test/chan/1.0.0'
export const MAX_MESSAGE_BYTES = 64 * 1024

export interface Recorder {
  gossip: Array<{ from: string; text: string }>
  requests: Array<{ from: string; bytes: number }>
  connected: string[]
  disconnected: string[]
}

export interface TestHost {
  host: ClusterHost
  rec: Recorder
}

/**
 * Starts a host whose request handler echoes, except for two magic payloads: 'boom' throws and
 * 'hang' never answers (for error and timeout tests). `serve`, when given, answers instead.
 */
export async function startTestHost(overrides: Partial<HostOptions> = {}, serve?: HostHandlers['onRequest']): Promise<TestHost> {
  const rec: Recorder = { gossip: [], requests: [], connected: [], disconnected: [] }
  const host = await createClusterHost({
    privateKey: await generateKeyPair('Ed25519'),
    listenHost: '127.0.0.1',
    listenPort: 0,
    join: [],
    mdns: false,
    topic: TOPIC,
    rpcProtocol: RPC_PROTOCOL,
    maxMessageBytes: MAX_MESSAGE_BYTES,
    colocated: true,
    ...overrides,
  })
  await host.start({
    onGossip: (from, data) => { rec.gossip.push({ from, text: bytesToString(data) }) },
    onRequest: async (from, data) => {
      rec.requests.push({ from, bytes: data.byteLength })
      if (serve !== undefined) return serve(from, data)
      const text = data.byteLength < 16 ? bytesToString(data) : ''
      if (text === 'boom') throw new Error('handler exploded on purpose')
      if (text === 'hang') return new Promise<Uint8Array>(() => { /* never answers */ })
      return data
    },
    onPeerConnected: (peer) => { rec.connected.push(peer) },
    onPeerDisconnected: (peer) => { rec.disconnected.push(peer) },
  })
  return { host, rec }
}

/** Polls `check` every 20 ms until it is true; fails with `what` after `timeoutMs`. */
export async function waitFor(what: string, check: () => boolean, timeoutMs = 10_000): Promise<number> {
  const started = performance.now()
  while (!check()) {
    if (performance.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return performance.now() - started
}

export function bytes(text: string): Uint8Array {
  return bytesFromString(text)
}

/** Runs `start` and resolves to its rejection (fails if it resolves) and how long it took. */
export async function rejectionOf(start: () => Promise<unknown>): Promise<{ err: Error; ms: number }> {
  const started = performance.now()
  try {
    await start()
  } catch (err) {
    return { err: err as Error, ms: performance.now() - started }
  }
  throw new Error('expected the promise to reject, but it resolved')
}
