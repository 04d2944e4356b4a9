// Every agent runs with AGENT_NODE_FLAGS: `npx murmur agent` gets them from bin/murmur.js's
// shebang, which cannot import them, so this keeps the two equal (cli-up.test.ts checks that
// `murmur up` passes them).
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { AGENT_NODE_FLAGS } from '../../src/cli/agent-node-flags.js'

const BIN = new URL('../../bin/murmur.js', import.meta.url)

describe('agent node flags', () => {
  it("bin/murmur.js's shebang runs node with exactly AGENT_NODE_FLAGS", () => {
    const shebang = readFileSync(BIN, 'utf8').split('\n')[0]!
    const m = /^#!\/usr\/bin\/env -S node((?: \S+)*)$/.exec(shebang)
    expect(m, `shebang: ${shebang}`).not.toBeNull()
    expect(m![1]!.split(' ').filter(Boolean)).toEqual([...AGENT_NODE_FLAGS])
  })
})
