// GET /v1/nodes and /v1/nodes/:idOrName: the cluster as this node sees it.
import type { FastifyInstance } from 'fastify'
import type { AgentView } from '../agent-view.js'
import { notFound } from '../errors.js'
import { IdOrNameParams } from '../schemas.js'

export function nodeRoutes(app: FastifyInstance, view: AgentView): void {
  app.get('/v1/nodes', async () => ({ nodes: view.nodes() }))

  app.get<{ Params: IdOrNameParams }>(
    '/v1/nodes/:idOrName',
    { schema: { params: IdOrNameParams } },
    async (request) => {
      const node = view.node(request.params.idOrName)
      if (node === undefined) throw notFound(`no node with id or name '${request.params.idOrName}'`)
      return node
    },
  )
}
