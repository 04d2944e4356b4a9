// GET /v1/nodes and /v1/nodes/:idOrName: the cluster as this node sees it, each node with the
// last member-state changes this node saw (`stateSince`, `stateChanges`) when it saw any.
import type { FastifyInstance } from 'fastify'
import type { AgentView } from '../agent-view.js'
import type { EventHistory, NodeStateChange } from '../event-history.js'
import { notFound, sendReply } from '../errors.js'
import { DEFAULT_DRAIN_DEADLINE_MS, DrainBody, IdOrNameParams } from '../schemas.js'
import type { NodeStatus } from '../../core/types.js'

/** NodeStatus as the API shows it: the contract's fields, plus what this node saw of its history. */
export type NodeStatusOut = NodeStatus & {
  /** When this node saw it enter its current member state (ISO 8601); absent if it saw no change. */
  stateSince?: string
  /** Its last member-state changes as this node saw them, oldest first (with the core's reason). */
  stateChanges?: readonly NodeStateChange[]
}

export function nodeRoutes(app: FastifyInstance, view: AgentView, history: EventHistory): void {
  const withHistory = (node: NodeStatus): NodeStatusOut => {
    const changes = history.changesOf(node.id)
    const last = changes.at(-1)
    if (last === undefined) return node
    // `draining` is a flag on an alive member, not a member state: the alive change still dates it.
    const current = node.state === 'draining' ? 'alive' : node.state
    return { ...node, ...(last.to === current ? { stateSince: last.at } : {}), stateChanges: changes }
  }

  app.get('/v1/nodes', async () => ({ nodes: view.nodes().map(withHistory) }))

  app.get<{ Params: IdOrNameParams }>(
    '/v1/nodes/:idOrName',
    { schema: { params: IdOrNameParams } },
    async (request) => {
      const node = view.node(request.params.idOrName)
      if (node === undefined) throw notFound(`no node with id or name '${request.params.idOrName}'`)
      return withHistory(node)
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
