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

/** Applies writes (as JSON) and deletes (value undefined) in one batch, in order. */
export async function batchJson(store: Datastore, ops: ReadonlyArray<{ key: string; value: unknown }>): Promise<void> {
  const b = store.batch()
  for (const op of ops) {
    const k = new Key(op.key)
    if (op.value === undefined) b.delete(k)
    else b.put(k, bytesFromString(JSON.stringify(op.value)))
  }
  await b.commit()
}
