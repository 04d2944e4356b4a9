// The jobs, newest first: state, where each instance runs now (node and attempt), why a job waits,
// how many duplicate runs were stopped, and a stop button. Rows are kept by job id and updated in
// place; a click on a row opens the job's detail.
import type { ClusterStore } from './cluster-store.js'
import { h, replaceChildren, setText } from './dom.js'
import { clock } from './format.js'
import type { AllocationInfo, JobInfo } from './wire.js'

export interface JobActions {
  select(id: string): void
  stop(job: JobInfo): Promise<void>
  readonly selected: string | undefined
}

/** Rows drawn at most: the table stays quick with thousands of jobs; the count says what is left out. */
const MAX_ROWS = 200

interface Row {
  el: HTMLTableRowElement
  state: HTMLElement
  instances: HTMLElement
  pending: HTMLElement
  dups: HTMLElement
  button: HTMLButtonElement
  message: HTMLElement
  job: JobInfo
  key: string
}

export function mountJobsTable(store: ClusterStore, body: HTMLTableSectionElement, summary: HTMLElement, actions: JobActions): void {
  const rows = new Map<string, Row>()

  store.on('jobs', () => {
    const shown = store.jobs.slice(0, MAX_ROWS)
    const seen = new Set<string>()
    shown.forEach((job, i) => {
      seen.add(job.id)
      let row = rows.get(job.id)
      if (row === undefined) {
        row = createRow(job, actions)
        rows.set(job.id, row)
      }
      row.job = job
      updateRow(row, job, actions.selected === job.id)
      if (body.children[i] !== row.el) body.insertBefore(row.el, body.children[i] ?? null)
    })
    for (const [id, row] of rows) {
      if (!seen.has(id)) { row.el.remove(); rows.delete(id) }
    }
    const counts = new Map<string, number>()
    for (const j of store.jobs) counts.set(j.state, (counts.get(j.state) ?? 0) + 1)
    const more = store.jobs.length > MAX_ROWS ? ` (newest ${MAX_ROWS} shown)` : ''
    setText(summary, store.jobs.length === 0 ? 'no jobs yet' : `${[...counts].map(([s, n]) => `${n} ${s}`).join(' · ')}${more}`)
  })
}

function createRow(job: JobInfo, actions: JobActions): Row {
  const state = h('span', { class: 'badge' })
  const instances = h('td', { class: 'instances' })
  const pending = h('td', { class: 'pending' })
  const dups = h('td', { class: 'num' })
  const message = h('span', { class: 'message' })
  const button = h('button', { attrs: { type: 'button' } }, 'stop')
  const row: Row = {
    el: h('tr', { attrs: { 'data-job': job.id } },
      h('td', {}, h('div', { class: 'job-name' }, job.name), h('div', { class: 'mono dim' }, job.id)),
      h('td', {}, job.type),
      h('td', {}, state),
      instances, pending, dups,
      h('td', { class: 'dim' }, clock(job.submittedAt)),
      h('td', {}, button, message)),
    state, instances, pending, dups, button, message, job, key: '',
  }
  row.el.addEventListener('click', (event) => {
    if ((event.target as Element).closest('button') === null) actions.select(row.job.id)
  })
  button.addEventListener('click', () => {
    button.disabled = true
    setText(message, '')
    actions.stop(row.job).then(
      () => setText(message, 'stopping…'),
      (err: unknown) => { message.className = 'message error'; setText(message, err instanceof Error ? err.message : String(err)) },
    ).finally(() => { button.disabled = false })
  })
  return row
}

function updateRow(row: Row, job: JobInfo, selected: boolean): void {
  row.el.className = selected ? 'selected' : ''
  row.el.setAttribute('data-state', job.state)
  setText(row.state, job.state)
  row.state.className = `badge st-${job.state}`
  const latest = latestAttempts(job.allocations)
  const key = latest.map((a) => `${a.index}:${a.attempt}:${a.state}:${a.nodeName}`).join(',')
  if (row.key !== key) {
    row.key = key
    replaceChildren(row.instances, ...latest.map((a) => h('span', {
      class: `chip st-${a.state}`, attrs: { 'data-index': String(a.index), 'data-node': a.nodeName, 'data-state': a.state },
      title: `instance ${a.index}, attempt ${a.attempt}, ${a.state} on ${a.nodeName}`,
    }, `#${a.index} ${a.nodeName} ${a.state}${a.attempt > 1 ? ` · attempt ${a.attempt}` : ''}`)))
    if (latest.length === 0) row.instances.append(h('span', { class: 'dim' }, 'none yet'))
  }
  setText(row.pending, job.state === 'pending' ? job.pendingReason ?? '' : '')
  setText(row.dups, job.duplicates.length === 0 ? '' : String(job.duplicates.length))
  row.button.hidden = !(job.state === 'pending' || job.state === 'running')
}

/** The latest attempt of each instance, by index. */
export function latestAttempts(allocations: AllocationInfo[]): AllocationInfo[] {
  const latest = new Map<number, AllocationInfo>()
  for (const a of allocations) {
    const cur = latest.get(a.index)
    if (cur === undefined || a.attempt > cur.attempt) latest.set(a.index, a)
  }
  return [...latest.values()].sort((a, b) => a.index - b.index)
}
