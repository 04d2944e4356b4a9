// Which methods each registered path answers, so an unknown method on a known path is a 405 with
// an `Allow` header instead of fastify's default 404.
import type { RouteOptions } from 'fastify'

interface Entry {
  pattern: RegExp
  methods: Set<string>
}

/** Collects routes from fastify's onRoute hook and matches request paths against them. */
export class RouteTable {
  private readonly entries = new Map<string, Entry>()

  add(route: Pick<RouteOptions, 'method' | 'url'>): void {
    const url = route.url ?? ''
    let entry = this.entries.get(url)
    if (entry === undefined) {
      entry = { pattern: patternOf(url), methods: new Set() }
      this.entries.set(url, entry)
    }
    for (const method of Array.isArray(route.method) ? route.method : [route.method]) {
      entry.methods.add(method.toUpperCase())
    }
  }

  /** The methods that some route serves at this path (query string ignored); empty if none. */
  allowed(path: string): string[] {
    const pathname = path.split('?', 1)[0] ?? ''
    const methods = new Set<string>()
    for (const entry of this.entries.values()) {
      if (entry.pattern.test(pathname)) for (const m of entry.methods) methods.add(m)
    }
    return [...methods].sort()
  }
}

/** `/v1/nodes/:idOrName` -> /^\/v1\/nodes\/[^/]+$/ ; `*` matches the rest of the path. */
function patternOf(url: string): RegExp {
  const parts = url.split('/').map((segment) => {
    if (segment.startsWith(':')) return '[^/]+'
    if (segment === '*') return '.*'
    return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  })
  return new RegExp(`^${parts.join('/')}/?$`)
}
