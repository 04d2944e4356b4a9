// readLog (what `murmur logs` and --follow use) and the pure parts of a launch: allocation ids,
// spec checks and the env a process gets.
import { appendFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { parseAllocationId, readLog } from '../../src/execution/index.js'
import { buildEnv, checkLaunchSpec } from '../../src/execution/launch-spec.js'
import { spec, tempDir } from '../fixtures/execution/helpers.js'

const tmp = tempDir('exec-logs')
afterAll(() => tmp.cleanup())

describe('readLog', () => {
  const path = join(tmp.dir, 'out.log')
  writeFileSync(path, 'hello world\n')

  it('reads the whole file, or from an offset', async () => {
    expect(await readLog(path)).toMatchObject({ size: 12, offset: 0, next: 12 })
    expect((await readLog(path)).data.toString()).toBe('hello world\n')
    const tail = await readLog(path, { offset: 6 })
    expect(tail.data.toString()).toBe('world\n')
    expect(tail.next).toBe(12)
  })

  it('a negative offset counts from the end', async () => {
    expect((await readLog(path, { offset: -6 })).data.toString()).toBe('world\n')
    expect((await readLog(path, { offset: -100 })).data.toString()).toBe('hello world\n')
  })

  it('caps a read at maxBytes; next continues where it stopped', async () => {
    const first = await readLog(path, { maxBytes: 5 })
    expect(first.data.toString()).toBe('hello')
    const second = await readLog(path, { offset: first.next, maxBytes: 100 })
    expect(second.data.toString()).toBe(' world\n')
  })

  it('follows a growing file from the last next', async () => {
    const followed = join(tmp.dir, 'follow.log')
    writeFileSync(followed, 'a\n')
    const one = await readLog(followed)
    appendFileSync(followed, 'b\n')
    const two = await readLog(followed, { offset: one.next })
    expect(two.data.toString()).toBe('b\n')
    const three = await readLog(followed, { offset: two.next })
    expect(three.data.length).toBe(0)
    expect(three.next).toBe(two.next)
  })

  it('an offset past the end gives nothing and the current size', async () => {
    expect(await readLog(path, { offset: 1000 })).toMatchObject({ size: 12, offset: 12, next: 12 })
  })

  it('a missing file rejects with ENOENT', async () => {
    await expect(readLog(join(tmp.dir, 'missing.log'))).rejects.toMatchObject({ code: 'ENOENT' })
  })
})

describe('allocation ids', () => {
  it('parses job id, index and attempt; job ids may hold dots', () => {
    expect(parseAllocationId('web.0.1')).toEqual({ jobId: 'web', index: 0, attempt: 1 })
    expect(parseAllocationId('j-1.v2.12.3')).toEqual({ jobId: 'j-1.v2', index: 12, attempt: 3 })
  })

  it.each(['', '.', '..', '../x.0.1', 'a/b.0.1', '.hidden.0.1', 'x.0', 'x.a.1', 'x.0.1\n', ' x.0.1'])('rejects %j', (id) => {
    expect(parseAllocationId(id)).toBeNull()
  })

  it('anything it accepts is a single, non-hidden path segment', () => {
    fc.assert(fc.property(fc.string({ maxLength: 40 }), fc.nat(), fc.nat(), (job, i, a) => {
      const id = `${job}.${i}.${a}`
      if (!parseAllocationId(id)) return
      expect(id).not.toMatch(/[/\0\s]/)
      expect(id.startsWith('.')).toBe(false)
    }))
  })
})

describe('launch spec', () => {
  it('accepts a good spec', () => {
    expect(checkLaunchSpec(spec(['true']))).toBeNull()
  })

  it.each([
    ['empty argv', { command: [] }, /non-empty/],
    ['NUL in argv', { command: ['echo', 'a\0b'] }, /NUL/],
    ['bad env name', { env: { '1X': 'y' } }, /variable name/],
    ['zero memory', { memoryMb: 0 }, /memoryMb/],
    ['negative cpu', { cpu: -1 }, /cpu/],
    ['negative timeout', { timeoutMs: -5 }, /timeoutMs/],
  ])('rejects %s', (_name, patch, why) => {
    expect(checkLaunchSpec(spec(['true'], patch))).toMatch(why)
  })

  it('builds env: base, then the job, then MURMUR_* which the job cannot override', () => {
    const env = buildEnv(spec(['true'], { allocationId: 'api.4.2', env: { LANG: 'de_DE.UTF-8', MURMUR_ATTEMPT: '99' } }), '/data/a', { PATH: '/bin', SECRET: 'x' })
    expect(env).toEqual({
      PATH: '/bin', HOME: '/data/a', LANG: 'de_DE.UTF-8', MURMUR_JOB_ID: 'api', MURMUR_ALLOC_ID: 'api.4.2',
      MURMUR_ALLOC_INDEX: '4', MURMUR_ATTEMPT: '2', MURMUR_ALLOC_DIR: '/data/a',
    })
  })
})
