// Prometheus metrics of the HTTP API itself, registered in the agent's registry.
import { Gauge, Histogram, type Registry } from 'prom-client'

/** Request latency by method, route pattern and status; its `_count` is the request counter. */
export interface HttpMetrics {
  requests: Histogram<'method' | 'route' | 'status'>
  sseClients: Gauge
}

const REQUESTS = 'murmur_http_request_duration_seconds'
const SSE_CLIENTS = 'murmur_http_sse_clients'

/**
 * Creates the metrics, or reuses them when an API server was already created on this registry
 * (a restarted server in tests; prom-client refuses to register one name twice).
 */
export function httpMetrics(registry: Registry): HttpMetrics {
  const requests = registry.getSingleMetric(REQUESTS) as Histogram<'method' | 'route' | 'status'> | undefined
    ?? new Histogram({
      name: REQUESTS,
      help: 'HTTP API requests by method, route pattern and status code',
      labelNames: ['method', 'route', 'status'] as const,
      // From a cached GET (sub-millisecond) up to a POST /v1/jobs that waits for replication.
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    })
  const sseClients = registry.getSingleMetric(SSE_CLIENTS) as Gauge | undefined
    ?? new Gauge({ name: SSE_CLIENTS, help: 'Open /v1/events streams', registers: [registry] })
  return { requests, sseClients }
}
