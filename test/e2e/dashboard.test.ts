// The dashboard in a real browser against three real agents: the node cards, a job submitted from
// the form running, its node SIGKILLed and the page showing the card dead and the job running
// elsewhere, then the node serving the page SIGKILLed and the page carrying on through another
// agent's API without a reload. Screenshots of each step go to test-artifacts/e2e/; with
// MURMUR_DOCS_SCREENSHOT=1 the kill moment also goes to docs/dashboard-kill.png (the README's).
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AgentFleet, nodesSeenBy, waitFor, type AgentProc } from '../support/agents.js'
import { launchBrowser, openPage, snapshot, writeFigures } from './browser.js'

/** Each in-page wait; the cluster's own reaction (detect, re-place) takes about a second here. */
const STEP_MS = 15_000

describe('the dashboard', () => {
  const fleet = new AgentFleet()
  let browser: Browser
  let n1: AgentProc
  const figures: Record<string, number | string> = {}

  beforeAll(async () => {
    const common = ['--cpu', '2', '--mem', '2048']
    n1 = await fleet.start('n1', [...common, '--label', 'role=edge'])
    await Promise.all([
      fleet.start('n2', [...common, '--label', 'role=worker', '--label', 'zone=a', '--join', n1.p2p]),
      fleet.start('n3', [...common, '--label', 'role=worker', '--label', 'zone=b', '--join', n1.p2p]),
    ])
    await waitFor('n1 to see 3 alive', async () =>
      (await nodesSeenBy(n1)).filter((n) => n.state === 'alive').length === 3 ? true : undefined, 20_000)
    browser = await launchBrowser()
  }, 90_000)

  afterAll(async () => {
    await browser?.close()
    await fleet.cleanup()
    writeFigures('dashboard', figures)
  }, 60_000)

  it('shows the cluster, runs a job from the form, and follows it through two node kills', async () => {
    const { page, errors, console: log } = await openPage(browser)
    try {
      await scenario(page, figures)
      expect(errors.map((e) => e.message)).toEqual([])
    } catch (err) {
      await snapshot(page, 'failure').catch(() => undefined)
      throw new Error(`${(err as Error).message}\npage console:\n${log.slice(-30).join('\n')}`, { cause: err })
    }
  }, 150_000)

  async function scenario(page: Page, fig: Record<string, number | string>): Promise<void> {
    const card = (name: string, state = ''): string => `article.node[data-node="${name}"]${state === '' ? '' : `[data-state="${state}"]`}`

    // 1. Three node cards, alive, from the agent that serves the page. The first load bundles the script.
    let t = Date.now()
    await page.goto(`${n1.api}/`)
    await page.waitForSelector(card('n3', 'alive'), { timeout: STEP_MS })
    fig['firstLoadToThreeCardsMs'] = Date.now() - t
    t = Date.now()
    await page.reload()
    await page.waitForSelector(card('n3', 'alive'), { timeout: STEP_MS })
    fig['reloadToThreeCardsMs'] = Date.now() - t
    const nav = JSON.parse(await page.evaluate('JSON.stringify(performance.getEntriesByType("navigation")[0])') as string) as Record<string, number>
    fig['reloadDomContentLoadedMs'] = Math.round(nav['domContentLoadedEventEnd']!)
    fig['reloadLoadEventMs'] = Math.round(nav['loadEventEnd']!)
    expect(await page.locator('article.node').count()).toBe(3)
    expect(await page.locator(card('n2')).textContent()).toContain('role=worker')
    expect(await page.locator(card('n1')).textContent()).toContain('served this page')
    await snapshot(page, '1-cluster')

    // Something running everywhere, so the chart has a line per node.
    const web = await postJob(n1, { name: 'web', command: ['sh', '-c', 'while true; do sleep 1; done'], type: 'service', count: 3, resources: { cpu: 0.2, memoryMb: 32 } })

    // 2. A refusal from the form is shown in the API's own words.
    await page.fill('#f-command', 'for i in $(seq 1 600); do echo tick $i; sleep 1; done')
    await page.fill('#f-name', 'ticker')
    await page.fill('#f-cpu', '-1')
    await page.click('#submit-form button[type=submit]')
    await page.waitForSelector('#submit-message.error', { timeout: STEP_MS })
    const refusal = await fetch(`${n1.api}/v1/jobs`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'ticker', command: ['sh', '-c', 'x'], resources: { cpu: -1 }, type: 'batch' }),
    })
    const apiWords = (await refusal.json() as { error: { message: string } }).error.message
    expect(await page.textContent('#submit-message')).toBe(apiWords)

    // 3. Submitted from the form, it runs on a worker (the constraint), and its output shows.
    await page.fill('#f-cpu', '0.5')
    await page.fill('#f-mem', '64')
    await page.selectOption('#f-type', 'service')
    await page.fill('#f-constraints', 'role = worker')
    t = Date.now()
    await page.click('#submit-form button[type=submit]')
    await page.waitForSelector('#submit-message:not(.error):has-text("submitted j-")', { timeout: STEP_MS })
    const id = /j-\S+/.exec(await page.textContent('#submit-message') ?? '')![0]
    const running = `tr[data-job="${id}"] .chip[data-state="running"]`
    await page.waitForSelector(running, { timeout: STEP_MS })
    fig['submitToRunningInPageMs'] = Date.now() - t
    const victim = await page.getAttribute(running, 'data-node') ?? ''
    expect(['n2', 'n3']).toContain(victim)
    const other = victim === 'n2' ? 'n3' : 'n2'
    await page.waitForSelector(`#detail[data-job="${id}"] #log-output:has-text("tick 2")`, { timeout: STEP_MS })
    expect(await page.locator(card(victim)).textContent()).toContain('ticker #0')

    // 4. Drain and undrain the other worker from its card.
    await page.click(`${card(other)} footer button`)
    await page.waitForSelector(card(other, 'draining'), { timeout: STEP_MS })
    await page.click(`${card(other)} footer button`)
    await page.waitForSelector(card(other, 'alive'), { timeout: STEP_MS })
    await waitForAllRunning(n1, web, 3)
    await snapshot(page, '2-running')

    // 5. SIGKILL the node running it: its card turns dead, the job runs on the other worker.
    t = Date.now()
    fleet.signal(victim, 'SIGKILL')
    await page.waitForSelector(card(victim, 'dead'), { timeout: STEP_MS })
    fig['killToCardDeadMs'] = Date.now() - t
    await page.waitForSelector(`tr[data-job="${id}"] .chip[data-node="${other}"][data-state="running"]`, { timeout: STEP_MS })
    fig['killToRunningElsewhereInPageMs'] = Date.now() - t
    expect(await page.locator(`${card(victim)} .why`).textContent()).toMatch(/^dead since \d\d:\d\d:\d\d\.\d{3} .*declared dead by n\d/)
    await page.waitForSelector(`#feed li[data-kind="node-dead"]:has-text("${victim} is dead")`, { timeout: STEP_MS })
    await page.waitForSelector(`#feed li[data-kind="lost"]:has-text("ticker (${id}) #0 lost on ${victim}")`, { timeout: STEP_MS })
    await page.waitForSelector(`#feed li[data-kind="replaced"]:has-text("ticker (${id}) #0 placed again on ${other}")`, { timeout: STEP_MS })
    await page.waitForSelector(`#detail-allocs tr[data-attempt="1"][data-state="lost"]`, { timeout: STEP_MS })
    await page.waitForSelector(`#log-output:has-text("attempt 2")`, { timeout: STEP_MS })
    // Let the chart take the samples that show the move before the picture is taken.
    await page.waitForSelector(`#chart-legend .legend-item:text-is("${victim} 0")`, { timeout: STEP_MS })
    await snapshot(page, '3-kill', { docs: 'dashboard-kill.png' })

    // The agent's logs name the node, the job and the run.
    const lines = fleet.get(victim).stderr.flatMap((l) => { try { return [JSON.parse(l) as Record<string, unknown>] } catch { return [] } })
    expect(lines.some((l) => l['node'] === victim && l['job'] === id && l['alloc'] === `${id}.0.1` && String(l['msg']).endsWith(`attempt 1 running on ${victim})`))).toBe(true)

    // 6. SIGKILL the node serving the page: the page says so and carries on through another agent.
    t = Date.now()
    fleet.signal('n1', 'SIGKILL')
    await page.waitForSelector(`#switch-banner:not([hidden])[data-to="${other}"]`, { timeout: STEP_MS })
    fig['serverKillToSwitchMs'] = Date.now() - t
    expect(await page.textContent('#switch-banner')).toMatch(new RegExp(`^n1 \\(${n1.api.replace(/[.:/]/g, '\\$&')}\\) stopped answering at .*It served this page\\. The page now goes through ${other}`))
    await page.waitForSelector(card('n1', 'dead'), { timeout: STEP_MS })
    await page.waitForSelector(`#connection[data-state="live"]:has-text("live through ${other}")`, { timeout: STEP_MS })
    fig['serverKillToCardDeadMs'] = Date.now() - t
    expect(page.url()).toBe(`${n1.api}/`)
    // Still a working dashboard: a job submitted now goes through the other agent and runs.
    await page.fill('#f-command', 'echo carried on')
    await page.fill('#f-name', 'after')
    await page.fill('#f-constraints', '')
    await page.selectOption('#f-type', 'batch')
    await page.click('#submit-form button[type=submit]')
    await page.waitForSelector('#submit-message:not(.error):has-text("submitted j-")', { timeout: STEP_MS })
    const after = /j-\S+/.exec(await page.textContent('#submit-message') ?? '')![0]
    await page.waitForSelector(`tr[data-job="${after}"][data-state="succeeded"]`, { timeout: STEP_MS })
    await page.waitForSelector('#log-output:has-text("carried on")', { timeout: STEP_MS })
    await snapshot(page, '4-failover')

    // 7. Stop the ticker from its row.
    await page.click(`tr[data-job="${id}"] button`)
    await page.waitForSelector(`tr[data-job="${id}"][data-state="cancelled"]`, { timeout: STEP_MS })
  }
})

async function postJob(agent: AgentProc, spec: unknown): Promise<string> {
  const res = await fetch(`${agent.api}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spec), signal: AbortSignal.timeout(15_000) })
  if (res.status !== 201) throw new Error(`submit: HTTP ${res.status} ${await res.text()}`)
  return (await res.json() as { id: string }).id
}

async function waitForAllRunning(agent: AgentProc, id: string, count: number): Promise<void> {
  await waitFor(`${count} instances of ${id} running`, async () => {
    const res = await fetch(`${agent.api}/v1/jobs/${id}`, { signal: AbortSignal.timeout(5_000) })
    const job = await res.json() as { allocations: Array<{ state: string }> }
    return job.allocations.filter((a) => a.state === 'running').length >= count ? true : undefined
  }, STEP_MS)
}
