// The dashboard's entry point: log in when the API asks for a token, load the cluster, then stay
// live on GET /v1/events. Events update the feed at once and ask for fresh node and job lists
// (throttled); timers refresh capacity figures and sample the chart. When the agent in use stops
// answering, the client moves to another member and the stream is opened there (api-client.ts).
import { ApiClient, ApiFailure, describe, type Switch } from './api-client.js'
import { ClusterStore } from './cluster-store.js'
import { byId, h, replaceChildren, setText } from './dom.js'
import { mountEventFeed } from './event-feed.js'
import { readEventStream, type StreamEvent } from './event-stream.js'
import { clock } from './format.js'
import { JobDetail } from './job-detail.js'
import { mountJobsTable } from './jobs-table.js'
import { askForToken } from './login.js'
import { mountNodeCards } from './node-cards.js'
import { mountRunningChart } from './running-chart.js'
import { mountSubmitForm } from './submit-form.js'
import { Throttled } from './throttle.js'
import { readEvent, readJobs, readNodes, readRecentEvents } from './wire.js'

/** Capacity and last-seen figures change without events: the node list is read this often anyway. */
const NODES_EVERY_MS = 2_000
/** Jobs change with events; this only catches what a lost event would have told. */
const JOBS_EVERY_MS = 5_000
/** After an event, lists are read again at most this often (50 events/s cost 2-4 reads/s). */
const NODES_GAP_MS = 250
const JOBS_GAP_MS = 400
const SAMPLE_EVERY_MS = 1_000
/** Reconnect backoff after the stream broke: quick first (a kill is a refused dial), capped. */
const RETRY_FIRST_MS = 200
const RETRY_MAX_MS = 3_000

const client = new ApiClient(location.origin)
const store = new ClusterStore()
const conn = byId('connection')

const nodesRefresh = new Throttled(async () => {
  const nodes = readNodes(await client.json('/v1/nodes'))
  store.setNodes(nodes)
  client.setMembers(nodes.map((n) => ({ name: n.name, api: n.api, state: n.state })))
}, NODES_GAP_MS)
const jobsRefresh = new Throttled(async () => { store.setJobs(readJobs(await client.json('/v1/jobs'))) }, JOBS_GAP_MS)

const detail = new JobDetail(client, store, () => store.changed('jobs'))
mountNodeCards(store, client, byId('nodes'), byId('nodes-summary'), {
  drain: async (node, enable) => {
    await client.json(`/v1/nodes/${encodeURIComponent(node.id)}/drain`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(enable ? {} : { enable: false }),
    })
    nodesRefresh.request()
  },
})
mountJobsTable(store, byId<HTMLTableSectionElement>('jobs'), byId('jobs-summary'), {
  select: (id) => detail.select(detail.selected === id ? undefined : id),
  stop: async (job) => {
    await client.json(`/v1/jobs/${encodeURIComponent(job.id)}`, { method: 'DELETE' })
    jobsRefresh.request()
  },
  get selected() { return detail.selected },
})
mountEventFeed(store, byId<HTMLOListElement>('feed'), byId('feed-count'))
mountRunningChart(store, byId('chart'), byId('chart-legend'))
mountSubmitForm(client, (id) => { jobsRefresh.request(); detail.select(id) })

client.onSwitch(showSwitch)
let loggingIn: Promise<void> | undefined
client.onUnauthorized((failure) => { void login(failure.message) })

void start()

async function start(): Promise<void> {
  for (let delay = RETRY_FIRST_MS; ; delay = Math.min(delay * 2, RETRY_MAX_MS)) {
    try {
      const health = await client.json('/v1/health') as { name?: unknown }
      if (typeof health.name === 'string') client.setName(health.name)
      break
    } catch (err) {
      if (err instanceof ApiFailure && err.status === 401) await loggingIn
      else status('down', `cannot reach the API: ${describe(err)}`)
      await sleep(delay)
    }
  }
  document.title = `murmur · ${client.current.name}`
  setText(byId('serving'), `via ${client.current.name}`)
  setInterval(() => nodesRefresh.request(), NODES_EVERY_MS)
  setInterval(() => jobsRefresh.request(), JOBS_EVERY_MS)
  setInterval(() => store.sample(Date.now()), SAMPLE_EVERY_MS)
  await live()
}

/** Asks for the token (once, however many requests were refused) and keeps it for the tab. */
function login(refusal: string): Promise<void> {
  loggingIn ??= (async () => {
    status('down', 'waiting for the API token')
    const why = client.hasToken ? `the API refused the token: ${refusal}` : ''
    client.setToken(await askForToken(why))
  })().finally(() => { loggingIn = undefined })
  return loggingIn
}

/** Follows /v1/events for as long as the page is open, on whichever agent answers. */
async function live(): Promise<void> {
  let delay = 0
  for (;;) {
    if (delay > 0) await sleep(delay)
    const controller = new AbortController()
    let why: string
    try {
      const res = await client.request('/v1/events', { headers: { accept: 'text/event-stream' }, signal: controller.signal }, 5_000)
      status('live', '')
      delay = 0
      // Read after the stream is open, so no change falls between the lists and the stream.
      void catchUp()
      await readEventStream(res, onStreamEvent, controller.signal)
      why = 'it closed the event stream'
    } catch (err) {
      if (err instanceof ApiFailure && err.status === 401) { await loggingIn; continue }
      why = describe(err)
    } finally {
      controller.abort()
    }
    status('down', `event stream lost (${why}); reconnecting…`)
    try {
      if (!(await client.healthy())) await client.failover(why)
    } catch { /* a 401 here: the login prompt is up, the next round waits for it */ }
    delay = delay === 0 ? RETRY_FIRST_MS : Math.min(delay * 2, RETRY_MAX_MS)
  }
}

/** Lists and the recent events, after (re)connecting: whatever happened while no stream was open. */
async function catchUp(): Promise<void> {
  await Promise.all([nodesRefresh.now(), jobsRefresh.now(), (async () => {
    try {
      store.addEvents(readRecentEvents(await client.json('/v1/events/recent'), new Date().toISOString()), false)
    } catch { /* an agent without /v1/events/recent: the feed starts from now */ }
  })()])
}

function onStreamEvent(e: StreamEvent): void {
  let data: unknown
  try { data = JSON.parse(e.data) } catch { return }
  const event = readEvent(data, new Date().toISOString())
  if (event === undefined) return
  store.addEvents([event], true)
  // A node's change moves runs (lost, placed again) as well as its card.
  if (event.type === 'node') nodesRefresh.request()
  else detail.jobChanged(event.job)
  jobsRefresh.request()
}

function status(kind: 'live' | 'down', text: string): void {
  const { name, base } = client.current
  conn.className = `connection ${kind}`
  conn.setAttribute('data-state', kind)
  replaceChildren(conn, kind === 'live' ? `live through ${name || base} (${base})` : text)
  store.changed('connection')
}

function showSwitch(s: Switch): void {
  const banner = byId('switch-banner')
  const home = s.from.base === client.home ? ' It served this page.' : ''
  replaceChildren(banner,
    h('strong', {}, `${s.from.name || s.from.base} (${s.from.base}) stopped answering`),
    ` at ${clock(s.at.toISOString())}: ${s.why}.${home} The page now goes through ${s.to.name || s.to.base} (${s.to.base}).`)
  banner.hidden = false
  banner.setAttribute('data-to', s.to.name)
  document.title = `murmur · ${s.to.name}`
  setText(byId('serving'), `via ${s.to.name}`)
  store.changed('connection')
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
