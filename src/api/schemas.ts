// TypeBox schemas of the API's inputs and outputs. Fastify validates params, querystrings and
// bodies against them (failures become 400 `bad_request` naming the field); the static types are
// what route handlers see.
import { Type, type Static } from '@sinclair/typebox'

export const ErrorBodySchema = Type.Object({
  error: Type.Object({
    code: Type.String(),
    message: Type.String(),
    details: Type.Optional(Type.Unknown()),
  }),
})

export const IdOrNameParams = Type.Object({
  // Peer ids are ~52 characters and names are short; anything longer is a mistake or an attack.
  idOrName: Type.String({ minLength: 1, maxLength: 256 }),
})
export type IdOrNameParams = Static<typeof IdOrNameParams>

const ResourcesSchema = Type.Object({ cpu: Type.Number(), memoryMb: Type.Number() })

/** NodeStatus (CONTRACT section 3); documentation for clients, the handlers' types come from src/core. */
export const NodeStatusSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  state: Type.Union(['alive', 'suspect', 'dead', 'draining', 'left'].map((s) => Type.Literal(s))),
  incarnation: Type.Number(),
  addrs: Type.Array(Type.String()),
  api: Type.String(),
  resources: Type.Object({ total: ResourcesSchema, free: ResourcesSchema }),
  labels: Type.Record(Type.String(), Type.String()),
  allocations: Type.Number(),
  lastSeenMs: Type.Number(),
})

export const HealthSchema = Type.Object({
  ok: Type.Literal(true),
  nodeId: Type.String(),
  name: Type.String(),
})

/** Body of POST /v1/nodes/{idOrName}/drain; every field optional, and the body itself too. */
export const DrainBody = Type.Object({
  /** Batch runs still going this long after the drain starts are stopped and placed elsewhere. */
  deadlineMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 30 * 86_400_000 })),
  /** false stops draining: the node takes new work again. */
  enable: Type.Optional(Type.Boolean()),
}, { additionalProperties: false })
export type DrainBody = Static<typeof DrainBody>

/** A drain's deadline when the request names none (Nomad's default is 1 h; jobs here are shorter-lived). */
export const DEFAULT_DRAIN_DEADLINE_MS = 60_000
