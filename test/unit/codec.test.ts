// The wire codec's refusals: a message of a known type names the field that is wrong (its
// variant's checker, compiled only when a message is refused), any other names the whole union.
import { describe, expect, it } from 'vitest'
import { CodecError, gossipCodec } from '../../src/gossip/codec.js'

const bytes = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value))

function refusal(value: unknown): CodecError {
  try {
    gossipCodec.decode(bytes(value))
  } catch (err) {
    if (err instanceof CodecError) return err
    throw err
  }
  throw new Error('decoded')
}

describe('gossip codec refusals', () => {
  it('names the wrong field of a message of a known type, each time', () => {
    for (let i = 0; i < 2; i++) {
      const err = refusal({ type: 'records', records: 'none' })
      expect(err.code).toBe('invalid')
      expect(err.message).toMatch(/^gossip message: \/records /)
    }
  })

  it('refuses a message of no known type without naming a field of a variant', () => {
    const err = refusal({ type: 'no-such-type' })
    expect(err.code).toBe('invalid')
    expect(err.message).not.toMatch(/\/records/)
  })

  it('refuses what is not JSON', () => {
    expect(() => gossipCodec.decode(new TextEncoder().encode('{'))).toThrow(expect.objectContaining({ code: 'not-json' }) as Error)
  })
})
