/**
 * bin/murmur.js runs the bundled CLI through a V8 code cache, and leaves a function on globalThis
 * when there is no usable cache yet. An agent calls saveCodeCache() once it is ready: by then V8
 * has compiled every function an agent's start-up needs (libp2p, LevelDB, fastify, the core), so
 * the cache spares the next starts their compilation too, not just the parse of the bundle's top
 * level. Under tsx (no bundle) and once a cache exists, there is nothing to do.
 */
const SAVE = Symbol.for('murmur.saveCodeCache')

export function saveCodeCache(): void {
  const holder = globalThis as { [SAVE]?: () => void }
  const save = holder[SAVE]
  if (save === undefined) return
  delete holder[SAVE]
  try {
    save()
  } catch {
    // A read-only install or a full disk: the next start compiles again, as without a cache.
  }
}
