// Does the page keep up with 50 events a second? Three agents on these two shared cores cannot
// produce that rate steadily without starving the browser being measured, so here the real API
// server runs over a scripted view of a cluster: 100 jobs whose instances are placed, run and
// finish, 500 events in 10 s, each reflected in what /v1/jobs answers. The page is the real one
// in Chromium; the test measures how long it takes to load, how long each event takes to reach the
// feed, how long the main thread was blocked, and checks that every event was shown and the job
// table ends where the scripted cluster does.
import type { FastifyInstance } from 'fastify'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApiServer } from '../../src/api/server.js'
import type { JobStatus } from '../../src/core/job-types.js'
import { fakeView, node } from '../support/api-view.js'
import { launchBrowser, openPage, snapshot, writeFigures } from './browser.js'

const RATE = 50
/** Four events per job: 500 events, 10 s at 50/s. */
const JOBS = 125
const NODES = ['n1', 'n2', 'n3', 'n4', 'n5']

describe('the dashboard under 50 events/s', () => {
  let app: FastifyInstance
  let url: string
  let browser: Browser
  const jobs = new Map<string, JobStatus>()
  const view = fakeView(NODES.map((name, i) => node(`12D3KooW${name.toUpperCase()}PEER`, name, 'alive', `http://127.0.0.1:${7070 + i}`)))

  beforeAll(async () => {
    view.jobs = async () => [...jobs.values()]
    view.job = async (id) => jobs.get(id)
    app = await createApiServer(view, { closeGraceMs: 100 })
    url = await app.listen({ host: '127.0.0.1', port: 0 })
    browser = await launchBrowser()
  }, 60_000)

  afterAll(async () => {
    await browser?.close()
    await app?.close()
  })

  it('shows every event within a frame or two, and the job table keeps up', async () => {
    const { page, errors } = await openPage(browser)
    // Set before the page's own script runs: when each feed line appeared, and main-thread stalls.
    await page.addInitScript(`
      window.__lines = []; window.__longTasks = [];
      new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__longTasks.push(e.duration) }).observe({ type: 'longtask', buffered: true });
      document.addEventListener('DOMContentLoaded', () => {
        new MutationObserver((records) => {
          const now = Date.now();
          for (const r of records) for (const n of r.addedNodes) if (n.textContent) window.__lines.push([now, n.textContent]);
        }).observe(document.getElementById('feed'), { childList: true });
      });`)
    let t = Date.now()
    await page.goto(`${url}/`)
    await page.waitForSelector('article.node[data-node="n5"]', { timeout: 15_000 })
    const firstLoadMs = Date.now() - t
    t = Date.now()
    await page.reload()
    await page.waitForSelector('article.node[data-node="n5"]', { timeout: 15_000 })
    const reloadMs = Date.now() - t
    await page.waitForSelector('#connection[data-state="live"]', { timeout: 15_000 })

    // 50 events/s on the clock: each job is submitted, placed, runs and succeeds, and /v1/jobs
    // answers what the events say as they are emitted.
    const emittedAt: number[] = []
    const script = eventScript()
    const start = Date.now()
    for (let i = 0; i < script.length; i++) {
      const due = start + (i * 1000) / RATE
      const wait = due - Date.now()
      if (wait > 0) await new Promise((r) => setTimeout(r, wait))
      script[i]!(i)
      emittedAt.push(Date.now())
    }
    const sendMs = Date.now() - start
    const total = script.length

    await page.waitForSelector(`#feed-count:has-text("${total} events since the page opened")`, { timeout: 5_000 })
    const caughtUpMs = Date.now() - emittedAt.at(-1)!
    await page.waitForSelector(`#jobs-summary:has-text("${JOBS} succeeded")`, { timeout: 5_000 })
    const tableMs = Date.now() - emittedAt.at(-1)!
    await snapshot(page, 'load-50-per-second')

    const lines = await page.evaluate('window.__lines') as Array<[number, string]>
    const longTasks = await page.evaluate('window.__longTasks') as number[]
    const latencies: number[] = []
    const seen: number[] = []
    for (const [at, text] of lines) {
      const m = /\(seq (\d+)\)/.exec(text)
      if (m === null) continue
      seen.push(Number(m[1]))
      latencies.push(at - emittedAt[Number(m[1])]!)
    }
    latencies.sort((a, b) => a - b)
    const pct = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))]!
    const figures = {
      events: total, sendMs, rate: Math.round((total / sendMs) * 1000 * 10) / 10,
      firstLoadToCardsMs: firstLoadMs, reloadToCardsMs: reloadMs,
      eventToFeedMs: { p50: pct(0.5), p95: pct(0.95), max: latencies.at(-1) },
      lastEventToCountShownMs: caughtUpMs, lastEventToTableCaughtUpMs: tableMs,
      longTasks: { count: longTasks.length, totalMs: Math.round(longTasks.reduce((a, b) => a + b, 0)), maxMs: Math.round(Math.max(0, ...longTasks)) },
    }
    writeFigures('load-50-per-second', figures)
    console.log('dashboard under load:', JSON.stringify(figures))

    // Every event reached the feed, once; the newest is on top.
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, i) => i))
    expect(await page.textContent('#feed li:first-child')).toContain(`(seq ${total - 1})`)
    // A frame is 16 ms; rendering is batched per frame. A second is far beyond what the page needs
    // and what a person would call live; only a page that falls behind its stream misses it.
    expect(figures.eventToFeedMs.p95).toBeLessThan(1_000)
    expect(errors.map((e) => e.message)).toEqual([])
  }, 90_000)

  /**
   * The events in emission order, each a function of its sequence number that updates the job
   * table and emits; `(seq N)` in the event's job name finds its line in the feed.
   */
  function eventScript(): Array<(seq: number) => void> {
    const steps: Array<{ key: number; step: number; run: (seq: number) => void }> = []
    for (let j = 0; j < JOBS; j++) {
      const id = `j-load-${String(j).padStart(3, '0')}`
      const nodeName = NODES[j % NODES.length]!
      const job: JobStatus = {
        id, name: `load-${j}`, type: 'batch', state: 'pending', submittedAt: new Date(Date.now() + j).toISOString(),
        spec: { name: `load-${j}`, command: ['true'], env: {}, resources: { cpu: 0.1, memoryMb: 64 }, count: 1, type: 'batch', constraints: [], restart: { attempts: 0, backoffMs: 1000 }, timeoutMs: 0 },
        allocations: [],
      }
      const alloc = (state: JobStatus['allocations'][number]['state']): JobStatus['allocations'][number] => ({
        index: 0, attempt: 1, nodeId: `12D3KooW${nodeName.toUpperCase()}PEER`, nodeName, state,
        exitCode: state === 'succeeded' ? 0 : null, startedAt: state === 'claimed' ? null : new Date().toISOString(),
        finishedAt: state === 'succeeded' ? new Date().toISOString() : null,
      })
      const name = (seq: number): string => `${job.name} (seq ${seq})`
      const run = (state: JobStatus['state'], allocState?: JobStatus['allocations'][number]['state']) => (seq: number): void => {
        jobs.set(id, job)
        job.state = state
        if (allocState !== undefined) job.allocations = [alloc(allocState)]
        view.emit(allocState === undefined
          ? { type: 'job', job: id, name: name(seq), state }
          : { type: 'job', job: id, name: name(seq), state, index: 0, attempt: 1, node: nodeName, allocState })
      }
      // A job's next step comes ten jobs later, so that about ten are in flight at once.
      const lifecycle = [run('pending'), run('pending', 'claimed'), run('running', 'running'), run('succeeded', 'succeeded')]
      lifecycle.forEach((fn, step) => steps.push({ key: j + step * 10, step, run: fn }))
    }
    return steps.sort((a, b) => a.key - b.key || a.step - b.step).map((s) => s.run)
  }
})
