import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { epochOffsetMs } from '../../src/node/epoch-clock.js'

const module = fileURLToPath(new URL('../../src/node/epoch-clock.ts', import.meta.url))

describe('epochOffsetMs', () => {
  it('is exact to a fraction of a millisecond when it is the first clock reading of a process', () => {
    // A fresh process: its first performance.now() initialises lazily, which is what an anchor
    // taken at module load meets. The check reads the offset again later, over many edges.
    const script = `
      const { epochOffsetMs } = await import(${JSON.stringify(module)})
      const first = epochOffsetMs()
      const later = epochOffsetMs(20)
      console.log(JSON.stringify({ first, later }))`
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 })
    const { first, later } = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { first: number; later: number }
    expect(Math.abs(later - first)).toBeLessThan(0.5)
  })

  it('turns performance.now() into Date.now()', () => {
    const offset = epochOffsetMs()
    const reading = offset + performance.now()
    expect(Math.abs(reading - Date.now())).toBeLessThanOrEqual(1.5)
  })
})
