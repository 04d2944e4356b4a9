// GET /v1/health: a cheap liveness answer that also says which node answered.
import type { FastifyInstance } from 'fastify'
import type { AgentView } from '../agent-view.js'

export function healthRoutes(app: FastifyInstance, view: AgentView): void {
  app.get('/v1/health', async () => ({ ok: true, nodeId: view.nodeId, name: view.name }))
}
