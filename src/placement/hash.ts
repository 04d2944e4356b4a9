// A deterministic 64-bit string hash for rendezvous scoring: FNV-1a 64 over UTF-8 bytes, then the
// MurmurHash3 fmix64 finalizer. FNV-1a alone mixes its low bits poorly for strings that differ only
// at the end ("alloc-17" vs "alloc-18"), and rendezvous hashing needs every output bit uniform, so
// the finalizer is not optional. Arithmetic is done on unsigned 32-bit halves with Math.imul rather
// than BigInt: the scheduler hashes (key, node) for every node on every placement, and BigInt is an
// order of magnitude slower. The tests check this against a straightforward BigInt version.

/** A 64-bit value as two unsigned 32-bit halves. */
export interface Hash64 {
  hi: number
  lo: number
}

const FNV_OFFSET_HI = 0xcbf29ce4
const FNV_OFFSET_LO = 0x84222325
// FNV-1a 64 prime 0x00000100_000001b3 = 2^40 + 0x1b3; the multiply below uses that split.
const FNV_PRIME_LO = 0x1b3
const TWO_POW_32 = 4294967296
const TWO_POW_52 = 4503599627370496

/** Separates key and node id in the hashed bytes: 0xff never occurs in UTF-8, so no two pairs collide by concatenation. */
const SEPARATOR = 0xff

/** The running FNV-1a state of fnvFeed, in module scope so feeding a byte is a plain call (no closure per string). */
let fnvHi = 0
let fnvLo = 0

function feed(byte: number): void {
  fnvLo = (fnvLo ^ byte) >>> 0
  const p = fnvLo * FNV_PRIME_LO // < 2^41: exact in a double
  const carry = Math.floor(p / TWO_POW_32)
  fnvHi = (Math.imul(fnvHi, FNV_PRIME_LO) + carry + (fnvLo << 8)) >>> 0
  fnvLo = p >>> 0
}

/** Feeds the UTF-8 bytes of `s` into an FNV-1a 64 state. Lone surrogates encode as U+FFFD, as TextEncoder does. */
function fnvFeed(state: Hash64, s: string): Hash64 {
  fnvHi = state.hi
  fnvLo = state.lo
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i)
    if (c < 0x80) {
      feed(c)
      continue
    }
    if (c < 0x800) {
      feed(0xc0 | (c >> 6))
      feed(0x80 | (c & 0x3f))
      continue
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < s.length ? s.charCodeAt(i + 1) : 0
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        const cp = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00)
        i++
        feed(0xf0 | (cp >> 18))
        feed(0x80 | ((cp >> 12) & 0x3f))
        feed(0x80 | ((cp >> 6) & 0x3f))
        feed(0x80 | (cp & 0x3f))
        continue
      }
      c = 0xfffd
    }
    feed(0xe0 | (c >> 12))
    feed(0x80 | ((c >> 6) & 0x3f))
    feed(0x80 | (c & 0x3f))
  }
  return { hi: fnvHi, lo: fnvLo }
}

function fnvFeedByte(state: Hash64, byte: number): Hash64 {
  const lo = (state.lo ^ byte) >>> 0
  const p = lo * FNV_PRIME_LO
  return {
    hi: (Math.imul(state.hi, FNV_PRIME_LO) + Math.floor(p / TWO_POW_32) + (lo << 8)) >>> 0,
    lo: p >>> 0,
  }
}

/** The low 64 bits of a * b. */
function mul64(aHi: number, aLo: number, bHi: number, bLo: number): Hash64 {
  // aLo * bLo needs all 64 bits, so split into 16-bit limbs; every partial product stays < 2^32.
  const a0 = aLo & 0xffff
  const a1 = aLo >>> 16
  const b0 = bLo & 0xffff
  const b1 = bLo >>> 16
  const p00 = a0 * b0
  const p01 = a0 * b1
  const p10 = a1 * b0
  const p11 = a1 * b1
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff)
  const lo = (((mid & 0xffff) << 16) | (p00 & 0xffff)) >>> 0
  const loProductHi = p11 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16)
  // The cross terms only reach the high word; their own high halves fall off the top.
  const hi = (loProductHi + Math.imul(aHi, bLo) + Math.imul(aLo, bHi)) >>> 0
  return { hi, lo }
}

/** MurmurHash3's fmix64: a bijection on 64 bits with full avalanche. */
export function mix64(h: Hash64): Hash64 {
  // k ^= k >>> 33 only touches the low word: bits 33..63 land on bits 0..30.
  let lo = (h.lo ^ (h.hi >>> 1)) >>> 0
  let hi = h.hi
  let m = mul64(hi, lo, 0xff51afd7, 0xed558ccd)
  hi = m.hi
  lo = (m.lo ^ (m.hi >>> 1)) >>> 0
  m = mul64(hi, lo, 0xc4ceb9fe, 0x1a85ec53)
  hi = m.hi
  lo = (m.lo ^ (m.hi >>> 1)) >>> 0
  return { hi, lo }
}

/** Plain FNV-1a 64 of the UTF-8 bytes of `s` (no finalizer); exported so tests can pin the standard vectors. */
export function fnv1a64(s: string): Hash64 {
  return fnvFeed({ hi: FNV_OFFSET_HI, lo: FNV_OFFSET_LO }, s)
}

/**
 * A fast 64-bit hash of a string's UTF-16 code units (two independent 32-bit multiply-xor lanes,
 * murmur3's fmix32 on each): for change detection of large values (a job record's JSON), where
 * fnv1a64's byte-at-a-time UTF-8 walk was the simulator's top hot spot. Not for rendezvous.
 */
export function quickHash64(s: string): Hash64 {
  let a = 0x9747b28c ^ s.length
  let b = 0x85ebca6b ^ s.length
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    a = Math.imul(a ^ c, 0xcc9e2d51)
    a = (a << 15) | (a >>> 17)
    b = Math.imul(b ^ c, 0x1b873593)
    b = (b << 13) | (b >>> 19)
  }
  return { hi: fmix32(a ^ b) >>> 0, lo: fmix32(b + Math.imul(a, 5)) >>> 0 }
}

function fmix32(h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  return h ^ (h >>> 16)
}

/** A 64-bit value as 16 lowercase hex digits. */
export function hash64Hex(h: Hash64): string {
  return h.hi.toString(16).padStart(8, '0') + h.lo.toString(16).padStart(8, '0')
}

/**
 * Maps 64 hash bits to a double strictly inside (0, 1): the top 52 bits n give (n + 0.5) / 2^52,
 * which is exact, never 0 (so ln h is finite) and never 1 (so ln h is non-zero). 52 rather than 53
 * bits because (2^53 - 0.5) / 2^53 would round up to exactly 1.
 */
export function toUnitInterval(h: Hash64): number {
  const top52 = h.hi * 0x100000 + (h.lo >>> 12)
  return (top52 + 0.5) / TWO_POW_52
}

/**
 * Returns a function hashing (key, nodeId) to (0, 1). The key's bytes are hashed once and the
 * state reused for every node, since ranking hashes one key against the whole cluster.
 */
export function rendezvousHasher(key: string): (nodeId: string) => number {
  const prefix = fnvFeedByte(fnv1a64(key), SEPARATOR)
  return (nodeId) => toUnitInterval(mix64(fnvFeed(prefix, nodeId)))
}

/** Memo of each node id's own hash (a pure function of the id; see keyedScorer). */
const nodeHashes = new Map<string, Hash64>()

function nodeHash(id: string): Hash64 {
  let h = nodeHashes.get(id)
  if (h === undefined) {
    h = mix64(fnv1a64(id))
    if (nodeHashes.size >= 1_000_000) nodeHashes.clear()
    nodeHashes.set(id, h)
  }
  return h
}

/**
 * Like rendezvousHasher, but each node id is hashed once per process and combined with the key's
 * hash by the fmix64 finalizer of their XOR: a key ranks N nodes with N finalizer calls instead
 * of N FNV walks over the ids' bytes (the storing-node ranking of every job was the simulator's
 * top cost at 3,000 nodes). The finalizer is a bijection with full avalanche, so for one key the
 * scores of distinct nodes are as good as independent uniforms, which is what rendezvous needs.
 */
export function keyedScorer(key: string): (nodeId: string) => number {
  const k = mix64(fnv1a64(key))
  return (nodeId) => {
    const n = nodeHash(nodeId)
    return toUnitInterval(mix64({ hi: (k.hi ^ n.hi) >>> 0, lo: (k.lo ^ n.lo) >>> 0 }))
  }
}

/**
 * keyedScorer for callers that keep the node hashes (idHashes) of a fixed list of ids: the score
 * of the node whose hash halves are (hi, lo), without looking the id up.
 */
export function keyedScorerOfHashes(key: string): (hi: number, lo: number) => number {
  const k = mix64(fnv1a64(key))
  return (hi, lo) => toUnitInterval(mix64({ hi: (k.hi ^ hi) >>> 0, lo: (k.lo ^ lo) >>> 0 }))
}

/** The node hashes keyedScorer uses, of each id in order: high and low halves. */
export function idHashes(ids: readonly string[]): { hi: Uint32Array; lo: Uint32Array } {
  const hi = new Uint32Array(ids.length)
  const lo = new Uint32Array(ids.length)
  ids.forEach((id, i) => {
    const h = nodeHash(id)
    hi[i] = h.hi
    lo[i] = h.lo
  })
  return { hi, lo }
}

/** A uniform, stable hash of (key, nodeId) in the open interval (0, 1). */
export function rendezvousHash(key: string, nodeId: string): number {
  return rendezvousHasher(key)(nodeId)
}
