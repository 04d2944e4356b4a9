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
