// The node's on-disk store: one LevelDB datastore under <dataDir>/store, holding the identity
// key and whatever small state the agent persists as JSON.
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { LevelDatastore } from 'datastore-level'
import { Key, type Datastore } from 'interface-datastore'
import { fromString as bytesFromString } from 'uint8arrays/from-string'
import { toString as bytesToString } from 'uint8arrays/to-string'

/** Opens (creating if needed) the datastore at `<dataDir>/store`. Close it when done. */
export async function openStore(dataDir: string): Promise<LevelDatastore> {
  const path = join(dataDir, 'store')
  await mkdir(path, { recursive: true })
  const store = new LevelDatastore(path)
  await store.open()
  return store
}

/**
 * Reads a JSON value, or undefined when the key is absent. The value is not validated: the
 * caller owns the schema and should check what it gets back.
 */
export async function getJson<T>(store: Datastore, key: string | Key): Promise<T | undefined> {
  const k = typeof key === 'string' ? new Key(key) : key
  if (!(await store.has(k))) return undefined
  return JSON.parse(bytesToString(await store.get(k))) as T
}

/** Writes a value as JSON (replacing any previous value). */
export async function putJson(store: Datastore, key: string | Key, value: unknown): Promise<void> {
  const k = typeof key === 'string' ? new Key(key) : key
  await store.put(k, bytesFromString(JSON.stringify(value)))
}

/**
 * Applies writes (as JSON) and deletes (value undefined) in one batch, in order, synced to the
 * disk before it resolves: an answer that waits for it (a store's `ok`, a submit's 201) then holds
 * through the machine's power loss or kernel crash too, not only the agent's. LevelDB's own
 * default, and datastore-level's batch, leave the write in the kernel's page cache. The runtime
 * writes one batch at a time and queues what comes meanwhile (core-runtime.ts), so under load one
 * sync covers many writes. Measured here (classic-level, 600-byte value, 200 writes): 0.37-0.47 ms
 * p50 synced against 0.09-0.10 ms not.
 */
export async function batchJson(store: LevelDatastore, ops: ReadonlyArray<{ key: string; value: unknown }>): Promise<void> {
  const batch = ops.map((op) => {
    const key = new Key(op.key).toString()
    return op.value === undefined
      ? { type: 'del' as const, key }
      : { type: 'put' as const, key, value: bytesFromString(JSON.stringify(op.value)) }
  })
  await store.db.batch(batch, { sync: true })
}
