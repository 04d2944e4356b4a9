// The one codec for gossip messages and rpc frames: size limit, JSON, schema. Every decode
// failure is a CodecError with a code, so the shell can count drops by reason.
import type { TSchema, Static } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { fromString, toString } from 'uint8arrays'
import type { GossipMessage, RpcRequest, RpcResponse } from '../core/types.js'
import { jsonBytes } from './json-size.js'
import { GossipMessageSchema, RpcRequestSchema, RpcResponseSchema } from './schemas.js'
import { MAX_GOSSIP_BYTES, MAX_RPC_BYTES } from './topics.js'

export type CodecErrorCode = 'too-large' | 'not-json' | 'invalid'

export class CodecError extends Error {
  override name = 'CodecError'
  constructor(readonly code: CodecErrorCode, message: string) {
    super(message)
  }
}

interface Codec<T> {
  encode(value: T): Uint8Array
  decode(bytes: Uint8Array): T
  /**
   * What crossing the wire does to `value`, without the byte buffers: its encoded size (refused
   * over the limit, as encode does) and what the receiver gets. With `check`, a parsed copy checked
   * against the schema, as decode gives; without (the simulator's big runs), `value` itself: every
   * core treats a message as immutable (the unit simulations deep-freeze them to prove it), and the
   * core's own messages are checked in its tests. One shared object instead of a copy per receiver
   * is most of the memory of a 10,000-node run.
   */
  transcode(value: T, check: boolean): { bytes: number; value: T }
}

type Checker = ReturnType<typeof TypeCompiler.Compile>

/**
 * For a union of `{ type: '...' }` variants, the checker of each variant by its type, so an error
 * names the field that is wrong instead of "Expected union value". Compiled only when a message
 * is refused: compiling them at load was ~5% of an agent's start-up cpu, for a rare error text.
 */
class VariantCheckers {
  private readonly compiled = new Map<string, Checker>()
  private readonly variants = new Map<string, TSchema>()

  constructor(schema: TSchema) {
    for (const v of (schema as { anyOf?: TSchema[] }).anyOf ?? []) {
      const t = (v as { properties?: { type?: { const?: unknown } } }).properties?.type?.const
      if (typeof t === 'string') this.variants.set(t, v)
    }
  }

  get(type: string): Checker | undefined {
    const variant = this.variants.get(type)
    if (variant === undefined) return undefined
    let c = this.compiled.get(type)
    if (c === undefined) this.compiled.set(type, c = TypeCompiler.Compile(variant))
    return c
  }
}

function firstError(check: Checker, variants: VariantCheckers, value: unknown): string {
  const type = typeof value === 'object' && value !== null ? (value as { type?: unknown }).type : undefined
  const c = typeof type === 'string' ? variants.get(type) ?? check : check
  const first = c.Errors(value).First()
  return first === undefined ? 'invalid' : `${first.path || '/'} ${first.message}`
}

function codec<S extends TSchema, T>(schema: S, maxBytes: number, what: string): Codec<T> {
  const check = TypeCompiler.Compile(schema)
  /** Sizes of long arrays inside messages, by identity (see json-size.ts). */
  const arraySizes = new WeakMap<object, number>()
  const variants = new VariantCheckers(schema)
  return {
    encode(value: T): Uint8Array {
      const bytes = fromString(JSON.stringify(value))
      if (bytes.byteLength > maxBytes) throw new CodecError('too-large', `${what} of ${bytes.byteLength} bytes exceeds ${maxBytes}`)
      return bytes
    },
    transcode(value: T, checked: boolean): { bytes: number; value: T } {
      if (!checked) {
        // A message is measured once: the core makes one per destination and a gossip is measured
        // at publish, so a cache of sizes by message would only be written (a weak-map entry per
        // message over 256 bytes, counted at 300 nodes: no hit). Long arrays inside messages are
        // remembered (json-size.ts): the digest a sync request carries is the same array from one
        // sync to the next until the member table changes.
        const bytes = jsonBytes(value, arraySizes) ?? Buffer.byteLength(JSON.stringify(value))
        if (bytes > maxBytes) throw new CodecError('too-large', `${what} of ${bytes} bytes exceeds ${maxBytes}`)
        return { bytes, value }
      }
      const text = JSON.stringify(value)
      const bytes = Buffer.byteLength(text)
      if (bytes > maxBytes) throw new CodecError('too-large', `${what} of ${bytes} bytes exceeds ${maxBytes}`)
      const copy: unknown = JSON.parse(text)
      if (!check.Check(copy)) throw new CodecError('invalid', `${what}: ${firstError(check, variants, copy)}`)
      return { bytes, value: copy as T }
    },
    decode(bytes: Uint8Array): T {
      if (bytes.byteLength > maxBytes) throw new CodecError('too-large', `${what} of ${bytes.byteLength} bytes exceeds ${maxBytes}`)
      let value: unknown
      try {
        value = JSON.parse(toString(bytes))
      } catch {
        throw new CodecError('not-json', `${what} is not JSON`)
      }
      if (!check.Check(value)) throw new CodecError('invalid', `${what}: ${firstError(check, variants, value)}`)
      return value as Static<S> as T
    },
  }
}

export const gossipCodec: Codec<GossipMessage> = codec(GossipMessageSchema, MAX_GOSSIP_BYTES, 'gossip message')
export const rpcRequestCodec: Codec<RpcRequest> = codec(RpcRequestSchema, MAX_RPC_BYTES, 'rpc request')
export const rpcResponseCodec: Codec<RpcResponse> = codec(RpcResponseSchema, MAX_RPC_BYTES, 'rpc response')
