// One job in detail: its spec, where it is stored, every attempt of every instance (the history of
// its allocations: where each ran, how it ended, which one replaced which), the duplicate runs that
// were stopped, and its output, followed while it runs.
import type { ApiClient } from './api-client.js'
import type { ClusterStore } from './cluster-store.js'
import { byId, h, replaceChildren, setText } from './dom.js'
import { clock } from './format.js'
import { LogFollower } from './log-follower.js'
import { readJob, type JobInfo } from './wire.js'

/** A job's detail is fetched again at most this often while its events keep coming. */
const REFETCH_MIN_MS = 700

export class JobDetail {
  private id: string | undefined
  private detail: JobInfo | undefined
  private follower: LogFollower | undefined
  private logKey = ''
  private fetching = false
  private again = false
  private lastFetch = 0
  private readonly panel = byId('detail')
  private readonly title = byId('detail-title')
  private readonly facts = byId('detail-facts')
  private readonly allocs = byId<HTMLTableSectionElement>('detail-allocs')
  private readonly dups = byId('detail-dups')
  private readonly instance = byId<HTMLSelectElement>('log-instance')
  private readonly stream = byId<HTMLSelectElement>('log-stream')
  private readonly logOut = byId<HTMLPreElement>('log-output')
  private readonly logStatus = byId('log-status')

  constructor(private readonly client: ApiClient, private readonly store: ClusterStore, private readonly onChange: () => void) {
    byId('detail-close').addEventListener('click', () => this.select(undefined))
    this.instance.addEventListener('change', () => this.restartLog())
    this.stream.addEventListener('change', () => this.restartLog())
    store.on('jobs', () => this.render())
  }

  get selected(): string | undefined { return this.id }

  select(id: string | undefined): void {
    if (id === this.id) return
    this.id = id
    this.detail = undefined
    this.logKey = ''
    this.follower?.stop()
    this.follower = undefined
    this.panel.hidden = id === undefined
    if (id !== undefined) {
      this.logOut.textContent = ''
      this.instance.value = '0'
      void this.refetch()
    }
    this.render()
    this.onChange()
  }

  /** A job event arrived: refetch the open job if it is the one (coalesced). */
  jobChanged(id: string): void {
    if (id === this.id) void this.refetch()
  }

  private async refetch(): Promise<void> {
    if (this.fetching) { this.again = true; return }
    this.fetching = true
    try {
      const wait = this.lastFetch + REFETCH_MIN_MS - Date.now()
      if (wait > 0) await new Promise((r) => setTimeout(r, wait))
      const id = this.id
      if (id === undefined) return
      this.lastFetch = Date.now()
      const body = await this.client.json(`/v1/jobs/${encodeURIComponent(id)}`)
      if (id !== this.id || typeof body !== 'object' || body === null) return
      this.detail = readJob(body as Record<string, unknown>)
      this.store.setJob(this.detail)
    } catch (err) {
      setText(this.logStatus, err instanceof Error ? err.message : String(err))
    } finally {
      this.fetching = false
      if (this.again) { this.again = false; void this.refetch() }
    }
  }

  private render(): void {
    if (this.id === undefined) return
    const job = this.store.job(this.id) ?? this.detail
    if (job === undefined) { setText(this.title, `${this.id} (loading…)`); return }
    this.panel.setAttribute('data-job', job.id)
    replaceChildren(this.title, `${job.name} `, h('span', { class: 'mono dim' }, job.id), ' ', h('span', { class: `badge st-${job.state}` }, job.state))
    const storedOn = (this.detail?.storedOn.length ?? 0) > 0 ? this.detail!.storedOn : job.storedOn
    const fact = (k: string, v: string): HTMLElement[] => [h('dt', {}, k), h('dd', {}, v)]
    replaceChildren(this.facts,
      ...fact('command', job.command.map(quote).join(' ')),
      ...fact('type', `${job.type} · ${job.count} instance${job.count === 1 ? '' : 's'}`),
      ...fact('each needs', `${job.resources.cpu} cpu · ${job.resources.memoryMb} MB`),
      ...(job.constraints.length > 0 ? fact('constraints', job.constraints.map((c) => `${c.label} ${c.op} ${c.value}`).join(', ')) : []),
      ...fact('submitted', clock(job.submittedAt)),
      ...(storedOn.length > 0 ? fact('stored on', storedOn.join(', ')) : []),
      ...(job.state === 'pending' && job.pendingReason !== undefined ? fact('waiting because', job.pendingReason) : []))

    const history = [...job.allocations].sort((a, b) => a.index - b.index || a.attempt - b.attempt)
    replaceChildren(this.allocs, ...history.map((a) => h('tr', { attrs: { 'data-index': String(a.index), 'data-attempt': String(a.attempt), 'data-state': a.state } },
      h('td', { class: 'num' }, String(a.index)), h('td', { class: 'num' }, String(a.attempt)), h('td', {}, a.nodeName),
      h('td', {}, h('span', { class: `badge st-${a.state}` }, a.state)),
      h('td', { class: 'num' }, a.exitCode === null ? '' : String(a.exitCode)),
      h('td', {}, clock(a.startedAt)), h('td', {}, clock(a.finishedAt)),
      h('td', {}, [a.reason, a.replaces === undefined ? undefined : `replaces attempt ${a.replaces}`].filter(Boolean).join('; ')))))
    if (history.length === 0) this.allocs.append(h('tr', {}, h('td', { class: 'empty', attrs: { colspan: '8' } }, 'not placed yet')))
    replaceChildren(this.dups, ...(job.duplicates.length === 0 ? [] : [
      h('h4', {}, 'duplicate runs stopped'),
      h('ul', {}, ...job.duplicates.map((d) => h('li', {}, `#${d.index} attempt ${d.attempt} on ${d.nodeName}, stopped ${clock(d.stoppedAt)}`))),
    ]))

    const count = Math.max(job.count, ...job.allocations.map((a) => a.index + 1))
    if (this.instance.options.length !== count) {
      const keep = this.instance.value
      replaceChildren(this.instance, ...Array.from({ length: count }, (_, i) => h('option', { attrs: { value: String(i) } }, `instance ${i}`)))
      this.instance.value = Number(keep) < count ? keep : '0'
    }
    this.restartLog(false)
  }

  private restartLog(force = true): void {
    const id = this.id
    if (id === undefined) return
    const key = `${id}|${this.instance.value}|${this.stream.value}`
    if (!force && key === this.logKey) return
    this.logKey = key
    this.follower?.stop()
    this.logOut.textContent = ''
    const index = Number(this.instance.value)
    const stream = this.stream.value === 'stderr' ? 'stderr' : 'stdout'
    this.follower = new LogFollower(this.client, {
      jobId: id, index, stream,
      running: () => { const s = this.store.job(id)?.state; return s === undefined || s === 'pending' || s === 'running' },
    }, this.logOut, this.logStatus)
    this.follower.start()
  }
}

/** An argv word as a shell would need it, for reading (not for running). */
function quote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`
}
