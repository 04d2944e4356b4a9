// Running instances per node over the last minutes: one line per node, one sample a second, and a
// marker where a node died or left. A node kill shows as its line dropping to zero and the others
// rising within a second or two: the moment the page exists for.
import type { ClusterStore } from './cluster-store.js'
import { h, replaceChildren, svg } from './dom.js'
import { clock } from './format.js'

const W = 640
const H = 170
const PAD = { left: 30, right: 10, top: 12, bottom: 22 }
/** The x axis spans at least this, so the first seconds after opening the page are not stretched. */
const MIN_WINDOW_MS = 10_000
/** Lines of equal counts are drawn this far apart, so that none hides another. */
const LINE_SPREAD_PX = 2.5
const COLORS = ['#2563eb', '#16a34a', '#d97706', '#9333ea', '#0891b2', '#db2777', '#65a30d', '#475569']

export function mountRunningChart(store: ClusterStore, host: HTMLElement, legend: HTMLElement): void {
  store.on('chart', () => {
    const samples = store.samples
    const last = samples.at(-1)
    if (last === undefined) return
    const names = [...new Set([...store.nodes.map((n) => n.name), ...samples.flatMap((s) => [...s.running.keys()])])].sort()
    const colorOf = new Map(names.map((n, i) => [n, COLORS[i % COLORS.length]!]))
    const end = last.t
    const start = Math.min(samples[0]!.t, end - MIN_WINDOW_MS)
    let max = 1
    for (const s of samples) for (const v of s.running.values()) max = Math.max(max, v)
    max = Math.ceil(max * 1.15)
    const x = (t: number): number => PAD.left + ((t - start) / (end - start)) * (W - PAD.left - PAD.right)
    const y = (v: number): number => H - PAD.bottom - (v / max) * (H - PAD.top - PAD.bottom)

    const grid: SVGElement[] = []
    for (const v of ticks(max)) {
      grid.push(svg('line', { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: 'grid' }))
      grid.push(svg('text', { x: PAD.left - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' }, String(v)))
    }
    grid.push(svg('text', { x: PAD.left, y: H - 6, class: 'axis' }, clock(new Date(start).toISOString()).slice(0, 8)))
    grid.push(svg('text', { x: W - PAD.right, y: H - 6, 'text-anchor': 'end', class: 'axis' }, clock(new Date(end).toISOString()).slice(0, 8)))

    const lines = names.map((name, i) => {
      const shift = (i - (names.length - 1) / 2) * LINE_SPREAD_PX
      const yy = (v: number): string => (y(v) + shift).toFixed(1)
      // A step line: the count holds until the next sample.
      let d = ''
      let prev: number | undefined
      for (const s of samples) {
        const v = s.running.get(name) ?? 0
        d += d === '' ? `M${x(s.t).toFixed(1)},${yy(v)}` : `H${x(s.t).toFixed(1)}${prev === v ? '' : `V${yy(v)}`}`
        prev = v
      }
      return svg('path', { d, fill: 'none', stroke: colorOf.get(name)!, 'stroke-width': 2, 'data-node': name })
    })
    // Labels take turns on three rows and sit left of their line near the right edge, so that
    // two deaths a few seconds apart stay readable.
    const marks = store.marks.filter((m) => m.t >= start).map((m, i) => {
      const left = x(m.t) > W * 0.75
      return svg('g', { class: 'mark' },
        svg('line', { x1: x(m.t), x2: x(m.t), y1: PAD.top, y2: H - PAD.bottom }),
        svg('text', { x: x(m.t) + (left ? -4 : 4), y: PAD.top + 10 + (i % 3) * 12, 'text-anchor': left ? 'end' : 'start' }, m.label))
    })

    host.replaceChildren(svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'running instances per node' }, ...grid, ...lines, ...marks))
    replaceChildren(legend, ...names.map((name) => {
      const swatch = h('span', { class: 'swatch' })
      // CSSOM, not a style attribute (CSP).
      swatch.style.background = colorOf.get(name)!
      return h('span', { class: 'legend-item' }, swatch, `${name} ${last.running.get(name) ?? 0}`)
    }))
  })
}

/** Up to 4 round gridline values from 0 to max. */
function ticks(max: number): number[] {
  const step = Math.max(1, Math.ceil(max / 4))
  const out: number[] = []
  for (let v = 0; v <= max; v += step) out.push(v)
  return out
}
