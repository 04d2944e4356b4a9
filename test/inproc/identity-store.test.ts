// The node's store and identity: the key survives a close and reopen, so the peer id is stable;
// the core's batches apply in order and are synced to the disk.
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { loadOrCreateIdentity } from '../../src/node/identity.js'
import { batchJson, getJson, openStore, putJson } from '../../src/node/store.js'

describe('store and identity', () => {
  let dataDir: string

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'murmur-store-'))
  })

  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true })
  })

  it('creates an Ed25519 identity once and reloads the same peer id', async () => {
    const first = await openStore(join(dataDir, 'nested', 'dir'))
    const key = await loadOrCreateIdentity(first)
    expect(key.type).toBe('Ed25519')
    expect(peerIdFromPrivateKey(await loadOrCreateIdentity(first)).toString()).toBe(peerIdFromPrivateKey(key).toString())
    await first.close()
    expect((await stat(join(dataDir, 'nested', 'dir', 'store'))).isDirectory()).toBe(true)

    const reopened = await openStore(join(dataDir, 'nested', 'dir'))
    const reloaded = await loadOrCreateIdentity(reopened)
    await reopened.close()
    expect(peerIdFromPrivateKey(reloaded).toString()).toBe(peerIdFromPrivateKey(key).toString())
  })

  it('round-trips JSON values and reports absent keys as undefined', async () => {
    const store = await openStore(dataDir)
    try {
      expect(await getJson(store, '/state/missing')).toBeUndefined()
      await putJson(store, '/state/node', { name: 'n1', labels: { zone: 'a' }, seq: 3 })
      expect(await getJson(store, '/state/node')).toEqual({ name: 'n1', labels: { zone: 'a' }, seq: 3 })
      await putJson(store, '/state/node', { name: 'n1', seq: 4 })
      expect(await getJson<{ seq: number }>(store, '/state/node')).toEqual({ name: 'n1', seq: 4 })
    } finally {
      await store.close()
    }
  })

  it('applies a batch of writes and deletes in order, synced, readable after a reopen', async () => {
    const store = await openStore(dataDir)
    const options: unknown[] = []
    const batch = store.db.batch.bind(store.db)
    // Power loss cannot be staged here; what can fail is the option not reaching LevelDB.
    store.db.batch = ((ops: unknown, opts: unknown) => { options.push(opts); return batch(ops as never, opts as never) }) as typeof store.db.batch
    try {
      await putJson(store, '/job/gone', { id: 'gone' })
      await batchJson(store, [
        { key: '/job/a', value: { id: 'a', v: 1 } },
        { key: '/job/gone', value: undefined },
        { key: '/job/a', value: { id: 'a', v: 2 } },
      ])
      expect(options).toEqual([{ sync: true }])
    } finally {
      await store.close()
    }
    const reopened = await openStore(dataDir)
    try {
      expect(await getJson(reopened, '/job/a')).toEqual({ id: 'a', v: 2 })
      expect(await getJson(reopened, '/job/gone')).toBeUndefined()
    } finally {
      await reopened.close()
    }
  })
})
