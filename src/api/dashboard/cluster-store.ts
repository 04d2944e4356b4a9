// The page's picture of the cluster: the latest nodes and jobs answers, the event feed, and the
// samples behind the chart. Views subscribe to a topic; changes are rendered at most once per
// animation frame however many arrive (50 events a second must not mean 50 renders a second).
import type { ClusterEvent, JobInfo, NodeInfo } from './wire.js'

export type Topic = 'nodes' | 'jobs' | 'feed' | 'chart' | 'connection'

/** One line of the event feed. `seq` orders lines that share a timestamp. */
export interface FeedItem { event: ClusterEvent; seq: number }

/** Running instances per node at one moment, for the chart. */
export interface Sample { t: number; running: Map<string, number> }

/** A moment worth marking on the chart: a node died or left. */
export interface Mark { t: number; label: string }

/** Feed lines kept (and drawn): a few minutes of a busy cluster. */
export const FEED_LIMIT = 300
/** Chart window: 5 minutes of one sample a second. */
export const SAMPLE_LIMIT = 300
/** The same change reported by two agents (after a switch) lands within this of itself. */
const SAME_EVENT_WINDOW_MS = 10_000

export class ClusterStore {
  nodes: NodeInfo[] = []
  /** When the nodes answer came (browser clock): `lastSeenMs` counts back from it. */
  nodesAt = 0
  jobs: JobInfo[] = []
  readonly feed: FeedItem[] = []
  readonly samples: Sample[] = []
  readonly marks: Mark[] = []
  /** Events received since the page opened (the feed keeps only the last FEED_LIMIT). */
  eventCount = 0
  /** Bumped when backfilled events were sorted in among shown ones: the feed must be redrawn whole. */
  feedResets = 0
  private seq = 0
  private readonly feedKeys = new Map<string, number>()
  private readonly listeners = new Map<Topic, Array<() => void>>()
  private readonly dirty = new Set<Topic>()
  private frame = 0

  on(topic: Topic, render: () => void): void {
    const list = this.listeners.get(topic) ?? []
    list.push(render)
    this.listeners.set(topic, list)
  }

  /** Marks a topic changed; its views render in the next animation frame. */
  changed(topic: Topic): void {
    this.dirty.add(topic)
    if (this.frame !== 0) return
    // A hidden tab gets no animation frames; the timer renders it anyway, at a slow pace.
    const run = (): void => { cancelAnimationFrame(this.frame); clearTimeout(timer); this.frame = 0; this.render() }
    const timer = setTimeout(run, 1_000)
    this.frame = requestAnimationFrame(run)
  }

  setNodes(nodes: NodeInfo[]): void {
    this.nodes = [...nodes].sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id))
    this.nodesAt = Date.now()
    this.changed('nodes')
  }

  setJobs(jobs: JobInfo[]): void {
    this.jobs = [...jobs].sort((a, b) => b.submittedAt.localeCompare(a.submittedAt) || a.id.localeCompare(b.id))
    this.changed('jobs')
    this.changed('nodes')
  }

  /** One job's fresher copy (from GET /v1/jobs/{id}) in place of the listed one. */
  setJob(job: JobInfo): void {
    const i = this.jobs.findIndex((j) => j.id === job.id)
    if (i >= 0) this.jobs[i] = job
    else this.setJobs([...this.jobs, job])
    this.changed('jobs')
  }

  node(idOrName: string): NodeInfo | undefined {
    return this.nodes.find((n) => n.id === idOrName) ?? this.nodes.find((n) => n.name === idOrName)
  }

  job(id: string): JobInfo | undefined {
    return this.jobs.find((j) => j.id === id)
  }

  /**
   * Adds events to the feed: `live` ones as they come, backfilled ones (GET /v1/events/recent,
   * after opening or switching agents) only when the feed does not already show them.
   */
  addEvents(events: ClusterEvent[], live: boolean): void {
    let added = false
    for (const event of events) {
      const key = eventKey(event)
      const t = Date.parse(event.at)
      const seen = this.feedKeys.get(key)
      if (!live && seen !== undefined && Math.abs(seen - t) < SAME_EVENT_WINDOW_MS) continue
      this.feedKeys.set(key, t)
      this.feed.push({ event, seq: this.seq++ })
      if (live) this.eventCount++
      if (event.type === 'node' && (event.to === 'dead' || event.to === 'left')) this.mark(t, `${event.name} ${event.to}`)
      added = true
    }
    if (!added) return
    if (!live) {
      this.feed.sort((a, b) => a.event.at.localeCompare(b.event.at) || a.seq - b.seq)
      this.feedResets++
    }
    while (this.feed.length > FEED_LIMIT) {
      const dropped = this.feed.shift()
      if (dropped !== undefined && this.feedKeys.get(eventKey(dropped.event)) === Date.parse(dropped.event.at)) this.feedKeys.delete(eventKey(dropped.event))
    }
    this.changed('feed')
  }

  /** Takes one chart sample: running instances per node from the latest jobs answer. */
  sample(now: number): void {
    const running = new Map<string, number>()
    for (const n of this.nodes) running.set(n.name, 0)
    for (const job of this.jobs) {
      for (const a of job.allocations) if (a.state === 'running') running.set(a.nodeName, (running.get(a.nodeName) ?? 0) + 1)
    }
    this.samples.push({ t: now, running })
    while (this.samples.length > SAMPLE_LIMIT) this.samples.shift()
    const first = this.samples[0]?.t ?? now
    while (this.marks.length > 0 && this.marks[0]!.t < first) this.marks.shift()
    this.changed('chart')
  }

  private mark(t: number, label: string): void {
    if (this.marks.some((m) => m.label === label && Math.abs(m.t - t) < SAME_EVENT_WINDOW_MS)) return
    this.marks.push({ t, label })
    this.marks.sort((a, b) => a.t - b.t)
    this.changed('chart')
  }

  private render(): void {
    const topics = [...this.dirty]
    this.dirty.clear()
    for (const topic of topics) {
      for (const render of this.listeners.get(topic) ?? []) {
        try { render() } catch (err) { console.error(`rendering ${topic} failed`, err) }
      }
    }
  }
}

/** What makes two reports the same change: everything but the time. */
function eventKey(e: ClusterEvent): string {
  return e.type === 'node'
    ? `n|${e.node}|${e.from}|${e.to}|${e.reason}`
    : `j|${e.job}|${e.state}|${e.index ?? ''}|${e.attempt ?? ''}|${e.allocState ?? ''}|${e.reason ?? ''}`
}
