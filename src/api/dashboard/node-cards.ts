// The nodes, one card each: state, capacity bars, labels, what runs there, and for a node that is
// not alive, since when and why (the member-state changes the answering agent saw). Cards are kept
// by node id and updated in place, so a refresh never steals a click or a hover.
import type { ApiClient } from './api-client.js'
import type { ClusterStore } from './cluster-store.js'
import { h, replaceChildren, setText } from './dom.js'
import { ago, clock, cpu, memory, shortId } from './format.js'
import { originOf } from './api-client.js'
import { stateChangeWords } from './describe-event.js'
import type { JobInfo, NodeInfo } from './wire.js'

/** What a card can ask the page to do. */
export interface NodeActions {
  drain(node: NodeInfo, enable: boolean): Promise<void>
}

interface Card {
  el: HTMLElement
  badge: HTMLElement
  tags: HTMLElement
  meta: HTMLElement
  why: HTMLElement
  cpuBar: Bar
  memBar: Bar
  labels: HTMLElement
  runs: HTMLElement
  button: HTMLButtonElement
  message: HTMLElement
  node: NodeInfo
}

interface Bar { fill: HTMLElement; text: HTMLElement }

export function mountNodeCards(store: ClusterStore, client: ApiClient, container: HTMLElement, summary: HTMLElement, actions: NodeActions): void {
  const cards = new Map<string, Card>()

  const render = (): void => {
    const now = Date.now()
    const runs = runsByNode(store.jobs)
    const seen = new Set<string>()
    store.nodes.forEach((node, i) => {
      seen.add(node.id)
      let card = cards.get(node.id)
      if (card === undefined) {
        card = createCard(node, actions)
        cards.set(node.id, card)
      }
      card.node = node
      updateCard(card, node, runs.get(node.id) ?? [], client, now, store.nodesAt)
      if (container.children[i] !== card.el) container.insertBefore(card.el, container.children[i] ?? null)
    })
    for (const [id, card] of cards) {
      if (!seen.has(id)) { card.el.remove(); cards.delete(id) }
    }
    const counts = new Map<string, number>()
    for (const n of store.nodes) counts.set(n.state, (counts.get(n.state) ?? 0) + 1)
    setText(summary, [...counts].map(([state, n]) => `${n} ${state}`).join(' · ') || 'no nodes yet')
  }
  store.on('nodes', render)
  store.on('connection', render)
  // "3.2 s ago" must move on even when nothing changes.
  setInterval(() => store.changed('nodes'), 1_000)
}

function createCard(node: NodeInfo, actions: NodeActions): Card {
  const bar = (label: string): Bar & { el: HTMLElement } => {
    const fill = h('div', { class: 'fill' })
    const text = h('span', { class: 'bar-text' })
    return { fill, text, el: h('div', { class: 'bar-row' }, h('span', { class: 'bar-label' }, label), h('div', { class: 'bar' }, fill), text) }
  }
  const cpuBar = bar('cpu')
  const memBar = bar('mem')
  const badge = h('span', { class: 'badge' })
  const tags = h('span', { class: 'tags' })
  const meta = h('div', { class: 'meta' })
  const why = h('div', { class: 'why' })
  const labels = h('ul', { class: 'labels' })
  const runs = h('ul', { class: 'runs' })
  const message = h('span', { class: 'message', attrs: { role: 'status' } })
  const card: Card = {
    el: h('article', { class: 'node', attrs: { 'data-node': node.name } }),
    badge, tags, meta, why, cpuBar, memBar, labels, runs, message, node,
    button: h('button', { attrs: { type: 'button' } }),
  }
  card.button.addEventListener('click', () => {
    const enable = card.node.state !== 'draining'
    card.button.disabled = true
    setText(card.message, enable ? 'asking it to drain…' : 'asking it to take work again…')
    card.message.className = 'message'
    actions.drain(card.node, enable).then(
      () => { setText(card.message, enable ? 'draining: its runs move elsewhere' : 'takes work again') },
      (err: unknown) => { card.message.className = 'message error'; setText(card.message, err instanceof Error ? err.message : String(err)) },
    ).finally(() => { card.button.disabled = false })
  })
  card.el.append(
    h('header', {}, h('h3', {}, node.name), badge, tags),
    meta, why, cpuBar.el, memBar.el, labels,
    h('div', { class: 'runs-title' }, 'running here'), runs,
    h('footer', {}, card.button, message),
  )
  return card
}

function updateCard(card: Card, node: NodeInfo, runs: string[], client: ApiClient, now: number, answeredAt: number): void {
  const live = node.state === 'alive' || node.state === 'draining' || node.state === 'suspect'
  card.el.className = `node st-${node.state}`
  card.el.setAttribute('data-state', node.state)
  setText(card.badge, node.state)
  card.badge.className = `badge st-${node.state}`

  const origin = originOf(node.api)
  const tags: string[] = []
  if (origin !== '' && origin === client.home) tags.push('served this page')
  if (origin !== '' && origin === client.current.base) tags.push('API in use')
  if (card.tags.dataset['v'] !== tags.join('|')) {
    card.tags.dataset['v'] = tags.join('|')
    replaceChildren(card.tags, ...tags.map((t) => h('span', { class: 'tag' }, t)))
  }
  setText(card.meta, `${shortId(node.id)} · ${node.api || 'no API'}`)
  setText(card.why, whyText(node, now, answeredAt))

  const used = (total: number, free: number): number => Math.max(0, total - free)
  setBar(card.cpuBar, used(node.total.cpu, node.free.cpu), node.total.cpu, `${cpu(used(node.total.cpu, node.free.cpu))} / ${cpu(node.total.cpu)}`)
  setBar(card.memBar, used(node.total.memoryMb, node.free.memoryMb), node.total.memoryMb,
    `${memory(used(node.total.memoryMb, node.free.memoryMb))} / ${memory(node.total.memoryMb)}`)

  const labelText = Object.entries(node.labels).map(([k, v]) => `${k}=${v}`)
  if (card.labels.dataset['v'] !== labelText.join('\n')) {
    card.labels.dataset['v'] = labelText.join('\n')
    replaceChildren(card.labels, ...labelText.map((l) => h('li', {}, l)))
  }
  const runText = runs.length === 0 ? [live ? 'nothing' : '—'] : runs
  if (card.runs.dataset['v'] !== runText.join('\n')) {
    card.runs.dataset['v'] = runText.join('\n')
    replaceChildren(card.runs, ...runText.map((r) => h('li', runs.length === 0 ? { class: 'empty' } : {}, r)))
  }
  card.button.hidden = !(node.state === 'alive' || node.state === 'draining')
  setText(card.button, node.state === 'draining' ? 'undrain' : 'drain')
}

function setBar(bar: Bar, used: number, total: number, text: string): void {
  const pct = total > 0 ? Math.min(100, (used / total) * 100) : 0
  // CSSOM, not a style attribute: the page's CSP allows no inline style.
  const width = `${pct.toFixed(1)}%`
  if (bar.fill.style.width !== width) bar.fill.style.width = width
  bar.fill.className = pct > 90 ? 'fill hot' : 'fill'
  setText(bar.text, text)
}

/** Since when and why a node is in its state, from the changes the answering agent saw. */
function whyText(node: NodeInfo, now: number, answeredAt: number): string {
  if (node.state === 'alive') return node.stateSince === undefined ? '' : `alive since ${clock(node.stateSince)}`
  const parts: string[] = []
  if (node.stateSince !== undefined) parts.push(`${node.state} since ${clock(node.stateSince)} (${ago(node.stateSince, now)})`)
  // The changes that led here: for a death, who suspected it and who declared it.
  const path = node.stateChanges.filter((c) => c.to !== 'alive').slice(-2)
  for (const c of path) parts.push(`${stateChangeWords(c.to, c.reason)} at ${clock(c.at)}`)
  if (node.state !== 'draining' && node.lastSeenMs > 0) parts.push(`last heard ${clock(new Date(answeredAt - node.lastSeenMs).toISOString())}`)
  return parts.join(' · ')
}

/** `name #index` of each run on each node (running or about to start), by node id. */
function runsByNode(jobs: JobInfo[]): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const job of jobs) {
    for (const a of job.allocations) {
      if (a.state !== 'running' && a.state !== 'claimed') continue
      const list = out.get(a.nodeId) ?? []
      list.push(`${job.name || job.id} #${a.index}${a.attempt > 1 ? ` (attempt ${a.attempt})` : ''}${a.state === 'claimed' ? ' starting' : ''}`)
      out.set(a.nodeId, list)
    }
  }
  return out
}
