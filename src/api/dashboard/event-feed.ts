// The live event feed, newest first. New lines are prepended as a batch once per frame and the
// oldest dropped, so a burst of events costs a few DOM insertions, not a redraw of the list.
import type { ClusterStore, FeedItem } from './cluster-store.js'
import { describeEvent } from './describe-event.js'
import { h, setText } from './dom.js'
import { clock } from './format.js'

export function mountEventFeed(store: ClusterStore, list: HTMLOListElement, counter: HTMLElement): void {
  let lastSeq = -1
  let resets = -1
  store.on('feed', () => {
    setText(counter, `${store.eventCount} events since the page opened`)
    if (resets !== store.feedResets) {
      resets = store.feedResets
      list.replaceChildren(...store.feed.map(line).reverse())
    } else {
      const fresh = store.feed.filter((item) => item.seq > lastSeq)
      if (fresh.length > 0) list.prepend(...fresh.map(line).reverse())
      while (list.childElementCount > store.feed.length) list.lastElementChild?.remove()
    }
    lastSeq = store.feed.at(-1)?.seq ?? lastSeq
    if (store.feed.length === 0) list.replaceChildren(h('li', { class: 'empty' }, 'no events yet'))
  })
}

function line(item: FeedItem): HTMLLIElement {
  const { kind, text } = describeEvent(item.event)
  return h('li', { class: `ev ev-${kind}`, attrs: { 'data-kind': kind } },
    h('time', { attrs: { datetime: item.event.at } }, clock(item.event.at)), ' ', text)
}
