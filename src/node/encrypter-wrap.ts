// Wrapping a libp2p connection encrypter: a hook on the connection it secures (before the
// handshake) and on the secured connection it returns. one-write.ts and noise-reads.ts each
// change one of the two.
import type { ConnectionEncrypter, MessageStream, SecuredConnection } from '@libp2p/interface'

export interface EncrypterHooks<Extension> {
  /** Applied to the connection below, before the handshake. */
  conn?: <C extends MessageStream>(conn: C) => C
  /** Applied to the secured connection, as the handshake resolves. */
  secured?: (secured: SecuredConnection<Extension>) => SecuredConnection<Extension>
}

export function wrapEncrypter<Components, Extension>(
  make: (components: Components) => ConnectionEncrypter<Extension>,
  hooks: EncrypterHooks<Extension>,
): (components: Components) => ConnectionEncrypter<Extension> {
  const before = hooks.conn ?? (<C>(conn: C): C => conn)
  const after = hooks.secured ?? ((secured: SecuredConnection<Extension>) => secured)
  return (components) => {
    const encrypter = make(components)
    const secureInbound = encrypter.secureInbound.bind(encrypter)
    const secureOutbound = encrypter.secureOutbound.bind(encrypter)
    encrypter.secureInbound = async (conn, options) => after(await secureInbound(before(conn), options))
    encrypter.secureOutbound = async (conn, options) => after(await secureOutbound(before(conn), options))
    return encrypter
  }
}
