// Headless Chromium for the browser tests, driven by playwright-core: Debian's own `chromium`
// package (`.ci/run` installs it with apt-get when it is missing), never a downloaded browser.
// Screenshots of each step go to test-artifacts/e2e/ (git-ignored).
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/lib/chromium/chromium']
export const ARTIFACTS = resolve(import.meta.dirname, '../../test-artifacts/e2e')
export const DOCS = resolve(import.meta.dirname, '../../docs')

/** The Chromium to drive: $MURMUR_CHROMIUM, else Debian's. Throws a one-line how-to when none is there. */
export function chromiumPath(): string {
  const wanted = process.env['MURMUR_CHROMIUM']
  if (wanted !== undefined && wanted !== '') {
    if (!existsSync(wanted)) throw new Error(`MURMUR_CHROMIUM=${wanted} does not exist`)
    return wanted
  }
  const found = CANDIDATES.find((p) => existsSync(p))
  if (found === undefined) {
    throw new Error(`no Chromium at ${CANDIDATES.join(', ')}: install Debian's (apt-get install chromium; .ci/run does it) or set MURMUR_CHROMIUM`)
  }
  return found
}

export async function launchBrowser(): Promise<Browser> {
  return await chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    // As root (CI containers) Chromium refuses to start its sandbox; /dev/shm is small in containers.
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  })
}

/** A page that fails the test on any script error, and keeps its console for the failure message. */
export async function openPage(browser: Browser, opts: { width?: number; height?: number } = {}): Promise<{ page: Page; console: string[]; errors: Error[] }> {
  const context = await browser.newContext({ viewport: { width: opts.width ?? 1400, height: opts.height ?? 1000 } })
  const page = await context.newPage()
  const console: string[] = []
  const errors: Error[] = []
  page.on('console', (m) => { console.push(`${m.type()}: ${m.text()}`); if (console.length > 200) console.shift() })
  page.on('pageerror', (err) => errors.push(err))
  return { page, console, errors }
}

/** Saves a screenshot of the step under test-artifacts/e2e/, and to docs/ too when asked to. */
export async function snapshot(page: Page, name: string, opts: { docs?: string } = {}): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true })
  // The overview: header, node cards, chart and feed, jobs (clicks scroll the page down).
  await page.evaluate('window.scrollTo(0, 0)')
  const png = await page.screenshot({ fullPage: false })
  writeFileSync(join(ARTIFACTS, `${name}.png`), png)
  // The README's picture is taken from the test run, on request only, so routine runs leave docs/ alone.
  if (opts.docs !== undefined && process.env['MURMUR_DOCS_SCREENSHOT'] === '1') writeFileSync(join(DOCS, opts.docs), png)
}

/** Writes figures measured by a test next to its screenshots. */
export function writeFigures(name: string, figures: unknown): void {
  mkdirSync(ARTIFACTS, { recursive: true })
  writeFileSync(join(ARTIFACTS, `${name}.json`), `${JSON.stringify(figures, null, 2)}\n`)
}
