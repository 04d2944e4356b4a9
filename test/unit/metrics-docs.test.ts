// docs/metrics.md lists every murmur_ metric an agent registers, and nothing else: a metric added
// without a line there (or removed while its line stays) fails here.
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { httpMetrics } from '../../src/api/http-metrics.js'
import { createAgentMetrics } from '../../src/node/metrics.js'

const DOC = readFileSync(resolve(import.meta.dirname, '../../docs/metrics.md'), 'utf8')
/** The first cell of each table row: `| \`murmur_x\` | …`. */
const documented = [...DOC.matchAll(/^\| `(murmur_[a-z0-9_*]+)` \|/gm)].map((m) => m[1]!)

describe('docs/metrics.md', () => {
  it('documents exactly the metrics an agent registers', async () => {
    const { registry } = createAgentMetrics(() => undefined, () => 0)
    httpMetrics(registry)
    const names = (await registry.getMetricsAsJSON()).map((m) => m.name)
    const own = names.filter((n) => !n.startsWith('murmur_process_'))
    expect(names.every((n) => n.startsWith('murmur_'))).toBe(true)
    expect(own.length).toBeGreaterThan(20)
    expect(own.filter((n) => !documented.includes(n)), 'registered but not documented').toEqual([])
    expect(documented.filter((n) => n !== 'murmur_process_*' && !own.includes(n)), 'documented but not registered').toEqual([])
    // The process group's examples are real names.
    for (const example of DOC.matchAll(/`(murmur_process_[a-z0-9_]+)`/g)) expect(names, example[1]).toContain(example[1])
  })
})
