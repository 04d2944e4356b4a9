// The dashboard of agents started with --api-token: the page asks for the token (and says when it
// is refused), shows the cluster once given the right one, keeps it for the tab but not for a new
// one, never puts it in a URL, and fails over with it to another agent (CORS preflight and all),
// while the API itself still refuses every request without it.
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AgentFleet, waitFor, type AgentProc } from '../support/agents.js'
import { launchBrowser, openPage, snapshot } from './browser.js'

const TOKEN = 'e2e-dashboard-token-7f3a'
const STEP_MS = 15_000

describe('the dashboard with --api-token', () => {
  const fleet = new AgentFleet()
  let browser: Browser
  let a1: AgentProc
  let a2: AgentProc

  beforeAll(async () => {
    a1 = await fleet.start('a1', ['--api-token', TOKEN])
    a2 = await fleet.start('a2', ['--api-token', TOKEN, '--join', a1.p2p])
    await waitFor('a1 to see a2 alive', async () => {
      const res = await fetch(`${a1.api}/v1/nodes`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: AbortSignal.timeout(5_000) })
      const { nodes } = await res.json() as { nodes: Array<{ name: string; state: string }> }
      return nodes.filter((n) => n.state === 'alive').length === 2 ? true : undefined
    }, 20_000)
    browser = await launchBrowser()
  }, 90_000)

  afterAll(async () => {
    await browser?.close()
    await fleet.cleanup()
  }, 60_000)

  it('asks for the token, shows the cluster with it, and keeps going on another agent', async () => {
    const { page, errors, console: log } = await openPage(browser)
    const requests: string[] = []
    page.on('request', (r) => requests.push(r.url()))
    try {
      // The API refuses everything but the page's own files without the token.
      expect((await fetch(`${a1.api}/v1/nodes`)).status).toBe(401)
      expect((await fetch(`${a1.api}/`)).status).toBe(200)

      await page.goto(`${a1.api}/`)
      await page.waitForSelector('#login-view:not([hidden])', { timeout: STEP_MS })
      expect(await page.locator('article.node').count()).toBe(0)
      await snapshot(page, 'token-1-login')

      await page.fill('#login-token', 'wrong-token')
      await page.click('#login-form button[type=submit]')
      await page.waitForSelector('#login-view:not([hidden]) #login-message:has-text("the API refused the token: invalid bearer token")', { timeout: STEP_MS })

      await page.fill('#login-token', TOKEN)
      await page.click('#login-form button[type=submit]')
      await page.waitForSelector('article.node[data-node="a2"][data-state="alive"]', { timeout: STEP_MS })
      expect(await page.isHidden('#login-view')).toBe(true)
      await snapshot(page, 'token-2-cluster')

      // Kept for the tab: a reload asks nothing. A new tab (its own session storage) asks again.
      await page.reload()
      await page.waitForSelector('article.node[data-node="a2"][data-state="alive"]', { timeout: STEP_MS })
      expect(await page.isHidden('#login-view')).toBe(true)
      const other = await openPage(browser)
      await other.page.goto(`${a1.api}/`)
      await other.page.waitForSelector('#login-view:not([hidden])', { timeout: STEP_MS })
      await other.page.context().close()

      // The agent serving the page dies: the page goes on through a2, token and all.
      fleet.signal('a1', 'SIGKILL')
      await page.waitForSelector('#switch-banner:not([hidden])[data-to="a2"]', { timeout: STEP_MS })
      await page.waitForSelector('article.node[data-node="a1"][data-state="dead"]', { timeout: STEP_MS })
      await page.waitForSelector('#connection[data-state="live"]:has-text("live through a2")', { timeout: STEP_MS })
      await snapshot(page, 'token-3-failover')

      expect(requests.some((u) => u.startsWith(a2.api))).toBe(true)
      expect(requests.filter((u) => u.includes(TOKEN))).toEqual([])
      expect(page.url()).toBe(`${a1.api}/`)
      expect(errors.map((e) => e.message)).toEqual([])
    } catch (err) {
      await snapshot(page, 'token-failure').catch(() => undefined)
      throw new Error(`${(err as Error).message}\npage console:\n${log.slice(-30).join('\n')}`, { cause: err })
    }
  }, 120_000)
})
