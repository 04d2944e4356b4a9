// One socket write per message. The encrypter hands the connection below it (TCP, or pnet over
// TCP) each noise message as a list of buffers: the 2-byte length, the ciphertext of each part
// of the muxer frame, the tag. @libp2p/tcp writes every buffer of that list with its own
// `socket.write`, so a 100-byte request cost 2-5 syscalls, and the peer, woken by the first,
// often read the message in two pieces. The list is joined before it reaches the socket: the
// copy of a small frame costs far less than one syscall, and a large one (up to 64 KiB per
// noise message) is a memcpy next to its encryption.
import { Uint8ArrayList } from 'uint8arraylist'
import type { ConnectionEncrypter, MessageStream } from '@libp2p/interface'
import { wrapEncrypter } from './encrypter-wrap.js'

/** What AbstractMessageStream subclasses (the TCP connection, pnet) implement to move bytes out. */
interface SendsData {
  sendData(data: Uint8ArrayList): unknown
}

/** Marks a connection whose writes are joined (tests read it). */
export const ONE_WRITE = Symbol('murmur.oneWrite')

/** Makes `conn` hand each send to the layer below as one buffer (once); returns `conn`. */
export function oneWritePerSend<C extends MessageStream>(conn: C): C {
  const target = conn as unknown as Partial<SendsData> & Record<symbol, unknown>
  if (typeof target.sendData !== 'function' || target[ONE_WRITE] === true) return conn
  const sendData = target.sendData.bind(conn)
  // subarray() returns a list's only buffer as it is, and joins several into one.
  target.sendData = (data: Uint8ArrayList) => sendData(new Uint8ArrayList(data.subarray()))
  Object.defineProperty(conn, ONE_WRITE, { value: true })
  return conn
}

/** A connection encrypter whose underlying connection writes each message at once. */
export function oneWriteEncrypter<Components, Extension>(
  make: (components: Components) => ConnectionEncrypter<Extension>,
): (components: Components) => ConnectionEncrypter<Extension> {
  return wrapEncrypter(make, { conn: oneWritePerSend })
}
