// Schemas of everything that crosses the wire. Bounds are part of the schema: a message within
// the byte limit can still not carry 10^6 labels or a 1 MB name.
import { Type, type Static } from '@sinclair/typebox'

const Id = Type.String({ minLength: 1, maxLength: 128 })
const Name = Type.String({ minLength: 1, maxLength: 128 })
const Count = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })
const Amount = Type.Number({ minimum: 0, maximum: 1e9 })
const ResourcesSchema = Type.Object({ cpu: Amount, memoryMb: Amount }, { additionalProperties: false })

export const NodeRecordSchema = Type.Object({
  id: Id,
  name: Name,
  incarnation: Count,
  state: Type.Union([Type.Literal('alive'), Type.Literal('suspect'), Type.Literal('dead'), Type.Literal('left')]),
  seq: Count,
  by: Type.String({ maxLength: 128 }),
  addrs: Type.Array(Type.String({ maxLength: 512 }), { maxItems: 32 }),
  api: Type.String({ maxLength: 512 }),
  resources: Type.Object({ total: ResourcesSchema, free: ResourcesSchema }, { additionalProperties: false }),
  labels: Type.Record(Type.String({ maxLength: 128 }), Type.String({ maxLength: 256 }), { maxProperties: 64 }),
  draining: Type.Boolean(),
  allocations: Count,
}, { additionalProperties: false })

const Records = Type.Array(NodeRecordSchema, { maxItems: 20_000 })

export const GossipMessageSchema = Type.Union([
  Type.Object({ type: Type.Literal('records'), records: Type.Array(NodeRecordSchema, { maxItems: 128 }) }, { additionalProperties: false }),
])

export const RpcRequestSchema = Type.Union([
  Type.Object({ type: Type.Literal('ping'), seq: Count, from: Type.Union([NodeRecordSchema, Type.Null()]) }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('ping-req'), seq: Count, target: Id }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('sync'), records: Records }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('leave'), record: NodeRecordSchema }, { additionalProperties: false }),
])

export const RpcResponseSchema = Type.Union([
  Type.Object({ type: Type.Literal('ack'), seq: Count }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('nack'), seq: Count }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('sync'), records: Records }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('ok') }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('error'), code: Type.String({ maxLength: 64 }), message: Type.String({ maxLength: 1024 }) }, { additionalProperties: false }),
])

export type NodeRecordWire = Static<typeof NodeRecordSchema>
