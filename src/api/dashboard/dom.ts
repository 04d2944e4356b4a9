// Building the page's elements. Text always goes in as text nodes (never parsed as markup), which is
// what keeps anything a job, node or error message says from becoming part of the page.

type Child = Node | string | number | null | undefined | false

/** Element properties `h` sets: a class, a title, attributes (e.g. `data-*`), and event handlers. */
export interface Props {
  class?: string
  title?: string
  attrs?: Record<string, string>
  on?: Partial<{ [K in keyof HTMLElementEventMap]: (event: HTMLElementEventMap[K]) => void }>
}

/** `h('td', { class: 'num' }, 'text', child)`: an element with its children appended. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  if (props.class !== undefined) el.className = props.class
  if (props.title !== undefined) el.title = props.title
  for (const [name, value] of Object.entries(props.attrs ?? {})) el.setAttribute(name, value)
  for (const [type, handler] of Object.entries(props.on ?? {})) el.addEventListener(type, handler as EventListener)
  append(el, children)
  return el
}

/** Appends children, strings as text. */
export function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue
    parent.appendChild(typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child)
  }
}

/** Replaces an element's children. */
export function replaceChildren(parent: Element, ...children: Child[]): void {
  parent.replaceChildren()
  append(parent, children)
}

const SVG_NS = 'http://www.w3.org/2000/svg'

/** An SVG element with attributes (presentation attributes only: the page's CSP allows no inline style). */
export function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number> = {}, ...children: Child[]): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag)
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value))
  append(el, children)
  return el
}

/** The element with this id, which the shell (index.html) must have. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id)
  if (el === null) throw new Error(`the page has no #${id}`)
  return el as T
}

/** Sets text only when it changed, so unchanged parts of a re-render cost no layout. */
export function setText(el: Element, text: string): void {
  if (el.textContent !== text) el.textContent = text
}
