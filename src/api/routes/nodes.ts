// GET /v1/nodes and /v1/nodes/:idOrName: the cluster as this node sees it.
import type { FastifyInstance } from 'fastify'
import type { AgentView } from '../agent-view.js'
import { notFound, sendReply } from '../errors.js'
import { DEFAULT_DRAIN_DEADLINE_MS, DrainBody, IdOrNameParams } from '../schemas.js'

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

  // No new work for the node; its runs move elsewhere (services first start a replacement; batch
  // runs finish, or move at the deadline). Answered once the node itself took the request.
  app.post<{ Params: IdOrNameParams; Body: DrainBody | undefined }>(
    '/v1/nodes/:idOrName/drain',
    { schema: { params: IdOrNameParams, body: DrainBody } },
    async (request, reply) => {
      const node = view.node(request.params.idOrName)
      if (node === undefined) throw notFound(`no node with id or name '${request.params.idOrName}'`)
      const body = request.body ?? {}
      return sendReply(reply, await view.drainNode(node.id, body.enable ?? true, body.deadlineMs ?? DEFAULT_DRAIN_DEADLINE_MS))
    },
  )
}
