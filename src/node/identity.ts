// The node's libp2p identity: one Ed25519 key, created on first start and kept in the node's
// store so the peer id (and with it every address other nodes hold for us) survives restarts.
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { Key, type Datastore } from 'interface-datastore'
import type { PrivateKey } from '@libp2p/interface'

/** Where the protobuf-encoded private key lives in the node's datastore. */
export const IDENTITY_KEY = new Key('/identity/key')

/** Loads the node's private key, or creates and stores an Ed25519 one on first start. */
export async function loadOrCreateIdentity(store: Datastore): Promise<PrivateKey> {
  if (await store.has(IDENTITY_KEY)) {
    return privateKeyFromProtobuf(await store.get(IDENTITY_KEY))
  }
  const key = await generateKeyPair('Ed25519')
  await store.put(IDENTITY_KEY, privateKeyToProtobuf(key))
  return key
}
