// Three real agents in separate processes, joined with --join: they converge, a SIGKILLed one is
// declared dead, a SIGSTOPped one too, and a SIGTERMed one is seen `left`. Detection deadlines
// here are wider than the goals (1.5 s / 4 s) because CI shares two cores with other test
// files; `npm run bench` measures the real figures.
import { afterAll, describe, expect, it } from 'vitest'
import { AgentFleet, nodesSeenBy, stateSeenBy, waitFor, type AgentProc } from '../support/agents.js'

const fleet = new AgentFleet()
afterAll(() => fleet.cleanup())

async function allSee(observers: AgentProc[], target: string, state: string, timeoutMs: number): Promise<number> {
  const start = Date.now()
  await waitFor(`${observers.map((o) => o.name).join(',')} to see ${target} ${state}`, async () => {
    const states = await Promise.all(observers.map((o) => stateSeenBy(o, target)))
    return states.every((s) => s === state) ? true : undefined
  }, timeoutMs)
  return Date.now() - start
}

describe('three agents in separate processes', () => {
  it('join, detect a SIGKILL, a SIGSTOP and a graceful SIGTERM', async () => {
    const a1 = await fleet.start('m1')
    const [a2, a3, a4] = await Promise.all([
      fleet.start('m2', ['--join', a1.p2p]),
      fleet.start('m3', ['--join', a1.p2p]),
      fleet.start('m4', ['--join', a1.p2p]),
    ])
    console.log('started', Date.now())
    const all = [a1, a2, a3, a4]
    await waitFor('all four to see four alive', async () => {
      const views = await Promise.all(all.map(nodesSeenBy))
      return views.every((v) => v.filter((n) => n.state === 'alive').length === 4) ? true : undefined
    }, 20_000)
    console.log('converged', Date.now())

    // SIGKILL: the closed connection is a hint, probes confirm, death follows.
    fleet.signal('m2', 'SIGKILL')
    const killMs = await allSee([a1, a3, a4], 'm2', 'dead', 5_000)
    console.log('kill->dead ms', killMs)
    expect(killMs).toBeLessThan(5_000)

    // SIGSTOP: sockets stay open; only failed probes reveal it.
    fleet.signal('m3', 'SIGSTOP')
    const stopMs = await allSee([a1, a4], 'm3', 'dead', 10_000)
    console.log('stop->dead ms', stopMs)
    expect(stopMs).toBeLessThan(10_000)
    // SIGCONT: it comes back, refutes its death with a higher incarnation, and is alive again.
    fleet.signal('m3', 'SIGCONT')
    console.log('cont->alive ms', await allSee([a1, a4], 'm3', 'alive', 10_000))

    // SIGTERM: a graceful leave, seen as `left` (not dead) at once.
    fleet.signal('m4', 'SIGTERM')
    console.log('term->left ms', await allSee([a1, a3], 'm4', 'left', 3_000))
    const t0 = Date.now()
    const exit = await a4.exited
    console.log('term->exit ms', Date.now() - t0)
    expect(exit.code).toBe(0)
    const seen = await nodesSeenBy(a1)
    expect(seen.find((n) => n.name === 'm4')?.state).toBe('left')
  })

  it('a restarted agent keeps its peer id and comes back alive', async () => {
    const a1 = fleet.get('m1')
    const old = fleet.get('m2')
    const again = await fleet.start('m2', ['--join', a1.p2p], { dataDir: old.dataDir })
    expect(again.peer).toBe(old.peer)
    await allSee([a1, fleet.get('m3')], 'm2', 'alive', 10_000)
  })
})
