// The lab's faults do what they say on the wire and to the processes, checked with plain TCP from
// inside the hosts (an unused port: `refused` means the packets got there, `EINVAL` that a
// blackhole route dropped them at the sender, a timeout that the link is down) and with the API.
import { afterAll, beforeAll, expect, it } from 'vitest'
import type { Lab } from '../../scripts/lab/lab.js'
import { closeLab, describeLab, newLab } from '../support/lab.js'

/** Nothing listens there: a reachable host answers with a reset. */
const CLOSED = 9

describeLab('lab faults', () => {
  let lab: Lab | undefined

  beforeAll(async () => {
    lab = await newLab()
    await lab.addHosts(3)
  })
  afterAll(() => closeLab(lab))

  it('partition, one-way block and cut act on the wire, and are undone', async () => {
    const l = lab as Lab
    const reach = (a: string, b: string): Promise<string> => l.tcpConnect(a, b, CLOSED)
    expect(await reach('h1', 'h2')).toBe('refused')

    await l.partition(['h1'], ['h2', 'h3'])
    expect(await reach('h1', 'h2')).toBe('error EINVAL')
    expect(await reach('h3', 'h1')).toBe('error EINVAL')
    expect(await reach('h2', 'h3')).toBe('refused')
    await l.unpartition(['h1'], ['h2', 'h3'])
    expect(await reach('h1', 'h3')).toBe('refused')

    await l.block('h1', 'h2')
    expect(await reach('h1', 'h2')).toBe('error EINVAL')
    // h2's packets reach h1, but h1's answers are dropped on the way out.
    expect(await reach('h2', 'h1')).toBe('timeout')
    await l.unblock('h1', 'h2')
    expect(await reach('h1', 'h2')).toBe('refused')

    await l.cut('h3')
    expect(await reach('h1', 'h3')).toMatch(/^(timeout|error EHOSTUNREACH)$/)
    await l.reconnect('h3')
    expect(await reach('h1', 'h3')).toBe('refused')
  })

  it('freeze, thaw and kill act on the agent', async () => {
    const l = lab as Lab
    const agent = await l.start('h1')
    expect((await l.request('h1', 'GET', '/v1/health')).status).toBe(200)
    // The run's token is required: the API listens on a lab address.
    expect((await l.request('h1', 'GET', '/v1/health', { headers: { authorization: 'Bearer wrong' } })).status).toBe(401)
    l.freeze('h1')
    await expect(l.request('h1', 'GET', '/v1/health', { timeoutMs: 1_000 })).rejects.toThrow(/no answer within 1000 ms/)
    l.thaw('h1')
    expect((await l.request('h1', 'GET', '/v1/health', { timeoutMs: 10_000 })).status).toBe(200)
    await l.kill('h1')
    expect(await agent.exited).toEqual({ code: null, signal: 'SIGKILL' })
    expect(l.running()).toEqual([])
  })
})
