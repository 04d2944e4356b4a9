// GET /metrics: the agent's Prometheus registry in the text exposition format.
import type { FastifyInstance } from 'fastify'
import type { AgentView } from '../agent-view.js'

export function metricsRoutes(app: FastifyInstance, view: AgentView): void {
  app.get('/metrics', async (_request, reply) => {
    const body = await view.metrics.metrics()
    return reply.type(view.metrics.contentType).send(body)
  })
}
