// GET /v1/events: cluster state changes as Server-Sent Events, one `event: <type>` per change,
// each stamped with `at` (when this node saw it). GET /v1/events/recent: the last of them as JSON,
// for a client that connects late or reconnects to another node and wants what it missed.
import type { FastifyInstance } from 'fastify'
import type { EventHistory } from '../event-history.js'
import type { HttpMetrics } from '../http-metrics.js'
import { openSse, type SseOptions, type SseStream } from '../sse.js'

export function eventRoutes(app: FastifyInstance, history: EventHistory, metrics: HttpMetrics, sse: SseOptions, watch: () => () => void = () => () => undefined): void {
  const open = new Set<SseStream>()

  // Open streams never end on their own; without this, app.close() would wait for every client.
  app.addHook('preClose', async () => {
    for (const stream of open) stream.close()
  })

  app.get('/v1/events', (_request, reply) => {
    const stream = openSse(reply, sse)
    open.add(stream)
    metrics.sseClients.inc()
    const unsubscribe = history.subscribe((event) => stream.send(event.type, event))
    const unwatch = watch()
    stream.onClose(() => {
      unsubscribe()
      unwatch()
      open.delete(stream)
      metrics.sseClients.dec()
    })
  })

  app.get('/v1/events/recent', async () => ({ events: history.recent() }))
}
