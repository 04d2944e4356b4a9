// Every node of a cluster must be started with the same --cells: a node that splits the cluster
// otherwise computes other cells, so its records and contacts are refused (not merged), with an
// error that names both counts. Two real cores driven by hand (test/support/hand-network.ts),
// every message through the wire codec.
import { describe, expect, it } from 'vitest'
import { TEST } from '../../src/core/config.js'
import { CELLS_MISMATCH, NodeCore } from '../../src/core/node-core.js'
import type { RpcResponse } from '../../src/core/types.js'
import { HandNetwork } from '../support/hand-network.js'

function core(id: string, cells: number): NodeCore {
  return NodeCore.create({
    self: { id, name: id, addrs: [`/ip4/127.0.0.1/tcp/7000/p2p/${id}`], api: 'http://127.0.0.1:7070', resources: { total: { cpu: 4, memoryMb: 4096 }, free: { cpu: 4, memoryMb: 4096 } }, labels: {}, draining: false, allocations: 0 },
    lastIncarnation: 0, config: TEST, cells, seed: 1, now: 0,
  }).core
}

/** Two nodes connect and exchange what their cores send each other (requests and answers), until quiet. */
function connect(a: NodeCore, b: NodeCore): RpcResponse[] {
  const net = new HandNetwork(1_000)
  net.add(a)
  net.add(b)
  net.deliver(a.selfRecord().id, { kind: 'peer-connected', peer: b.selfRecord().id })
  net.deliver(b.selfRecord().id, { kind: 'peer-connected', peer: a.selfRecord().id })
  net.settle()
  return net.answers
}

const known = (c: NodeCore): string[] => c.records().map((r) => r.id).sort()

describe('--cells must agree', () => {
  it('nodes started with the same --cells merge each other\'s records', () => {
    const [a, b] = [core('node-a', 1), core('node-b', 1)] as [NodeCore, NodeCore]
    connect(a, b)
    expect(known(a)).toEqual(['node-a', 'node-b'])
    expect(known(b)).toEqual(['node-a', 'node-b'])
  })

  for (const [ca, cb] of [[1, 2], [3, 4]] as const) {
    it(`a node with --cells ${cb} and one with --cells ${ca} refuse each other, saying why`, () => {
      const [a, b] = [core('node-a', ca), core('node-b', cb)] as [NodeCore, NodeCore]
      const answers = connect(a, b)
      expect(known(a)).toEqual(['node-a'])
      expect(known(b)).toEqual(['node-b'])
      expect(a.contacts().map((c) => c.id)).not.toContain('node-b')
      expect(b.contacts().map((c) => c.id)).not.toContain('node-a')
      const refusals = answers.filter((m) => m.type === 'error' && m.code === CELLS_MISMATCH)
      expect(refusals.length).toBeGreaterThan(0)
      for (const m of refusals) expect(m.type === 'error' && m.message).toMatch(new RegExp(`^node node-[ab] runs with --cells (${ca}|${cb}), node node-[ab] with --cells (${ca}|${cb})`))
    })
  }
})
