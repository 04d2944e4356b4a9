// Schemas of everything that crosses the wire. Bounds are part of the schema: a message within
// the byte limit can still not carry 10^6 labels or a 1 MB name.
import { Type, type Static } from '@sinclair/typebox'
import { MAX_ACTIVITY_EVENTS } from '../core/activity.js'

const Id = Type.String({ minLength: 1, maxLength: 128 })
const Name = Type.String({ minLength: 1, maxLength: 128 })
const Count = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })
const Amount = Type.Number({ minimum: 0, maximum: 1e9 })
/** The sender's cell count (src/core/cells.ts MAX_CELLS bounds it). */
const Cells = Type.Integer({ minimum: 1, maximum: 4096 })
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
const Contacts = Type.Array(Type.Object({
  id: Id, addrs: Type.Array(Type.String({ maxLength: 512 }), { maxItems: 32 }), incarnation: Count,
}, { additionalProperties: false }), { maxItems: 20_000 })

/** A job spec with every default filled in (the API edge has the lenient schema users write). */
export const JobSpecSchema = Type.Object({
  name: Type.String({ maxLength: 256 }),
  command: Type.Array(Type.String({ maxLength: 64 * 1024 }), { minItems: 1, maxItems: 1024 }),
  env: Type.Record(Type.String({ maxLength: 256 }), Type.String({ maxLength: 32 * 1024 }), { maxProperties: 256 }),
  resources: ResourcesSchema,
  count: Type.Integer({ minimum: 1, maximum: 10_000 }),
  type: Type.Union([Type.Literal('batch'), Type.Literal('service')]),
  constraints: Type.Array(Type.Object({
    label: Type.String({ maxLength: 128 }),
    op: Type.Union([Type.Literal('='), Type.Literal('!='), Type.Literal('in'), Type.Literal('not_in')]),
    value: Type.String({ maxLength: 1024 }),
  }, { additionalProperties: false }), { maxItems: 64 }),
  restart: Type.Object({ attempts: Type.Integer({ minimum: 0, maximum: 1000 }), backoffMs: Type.Integer({ minimum: 0, maximum: 86_400_000 }) }, { additionalProperties: false }),
  timeoutMs: Type.Integer({ minimum: 0, maximum: 30 * 86_400_000 }),
  disconnect: Type.Optional(Type.Object({
    replace: Type.Boolean(),
    reconcile: Type.Union([Type.Literal('keep_original'), Type.Literal('keep_replacement'), Type.Literal('longest_running'), Type.Literal('best_score')]),
    stopAfterMs: Type.Union([Type.Integer({ minimum: 1, maximum: 30 * 86_400_000 }), Type.Null()]),
  }, { additionalProperties: false })),
}, { additionalProperties: false })

const Millis = Type.Number({ minimum: 0 })
const AllocationSchema = Type.Object({
  index: Count,
  attempt: Count,
  nodeId: Id,
  nodeName: Type.String({ maxLength: 128 }),
  state: Type.Union(['claimed', 'running', 'succeeded', 'failed', 'lost', 'cancelled'].map((s) => Type.Literal(s))),
  exitCode: Type.Union([Type.Integer(), Type.Null()]),
  startedAt: Type.Union([Millis, Type.Null()]),
  finishedAt: Type.Union([Millis, Type.Null()]),
  reason: Type.Optional(Type.String({ maxLength: 1024 })),
  replaces: Type.Optional(Count),
  epoch: Type.Optional(Count),
  lostBy: Type.Optional(Id),
}, { additionalProperties: false })

const DuplicateRunSchema = Type.Object({
  index: Count, attempt: Count, nodeId: Id, nodeName: Type.String({ maxLength: 128 }), stoppedAt: Millis,
}, { additionalProperties: false })

export const JobRecordSchema = Type.Object({
  id: Id,
  spec: JobSpecSchema,
  submittedAt: Millis,
  cancelled: Type.Boolean(),
  allocations: Type.Record(Type.String({ maxLength: 32 }), AllocationSchema, { maxProperties: 100_000 }),
  pendingReason: Type.String({ maxLength: 2048 }),
  reasonVersion: Count,
  duplicates: Type.Optional(Type.Record(Type.String({ maxLength: 192 }), DuplicateRunSchema, { maxProperties: 10_000 })),
  cancelledAt: Type.Optional(Millis),
}, { additionalProperties: false })

export const JobDeltaSchema = Type.Object({
  id: Id,
  allocs: Type.Optional(Type.Array(AllocationSchema, { maxItems: 10_000 })),
  cancelledAt: Type.Optional(Millis),
  reason: Type.Optional(Type.Object({ text: Type.String({ maxLength: 2048 }), version: Count }, { additionalProperties: false })),
  duplicates: Type.Optional(Type.Array(DuplicateRunSchema, { maxItems: 10_000 })),
}, { additionalProperties: false })

const AllocRefs = Type.Array(Type.Object({ id: Id, index: Count, attempt: Count }, { additionalProperties: false }), { maxItems: 10_000 })

/** A job event of an activity digest (the `job` kind of ClusterEvent). */
const JobEventSchema = Type.Object({
  type: Type.Literal('job'),
  job: Id,
  name: Type.String({ maxLength: 256 }),
  state: Type.String({ maxLength: 32 }),
  index: Type.Optional(Count),
  attempt: Type.Optional(Count),
  node: Type.Optional(Type.String({ maxLength: 128 })),
  allocState: Type.Optional(Type.String({ maxLength: 32 })),
  reason: Type.Optional(Type.String({ maxLength: 1024 })),
}, { additionalProperties: false })


const JobRecords = Type.Array(JobRecordSchema, { maxItems: 20_000 })
const JobDigestsSchema = Type.Record(Id, Type.String({ maxLength: 32 }), { maxProperties: 200_000 })

export const GossipMessageSchema = Type.Union([
  Type.Object({ type: Type.Literal('records'), records: Type.Array(NodeRecordSchema, { maxItems: 128 }) }, { additionalProperties: false }),
  Type.Object({
    type: Type.Literal('activity'), node: Id, free: ResourcesSchema, allocations: Count,
    events: Type.Array(JobEventSchema, { maxItems: MAX_ACTIVITY_EVENTS }), dropped: Type.Optional(Count),
    at: Type.Optional(Millis),
  }, { additionalProperties: false }),
])

/** API requests a node forwards to the cell that owns a job or node (src/core/cell-router.ts). */
const ApiRequestSchema = Type.Union([
  Type.Object({ op: Type.Literal('submit'), id: Id, spec: JobSpecSchema, admit: Type.Optional(Type.Union([Type.Literal('room'), Type.Literal('spare')])) }, { additionalProperties: false }),
  Type.Object({ op: Type.Literal('cancel'), id: Id }, { additionalProperties: false }),
  Type.Object({ op: Type.Literal('get'), id: Id }, { additionalProperties: false }),
  Type.Object({ op: Type.Literal('list'), cellOnly: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
  Type.Object({ op: Type.Literal('drain'), node: Id, enable: Type.Boolean(), deadlineMs: Type.Integer({ minimum: 0, maximum: 30 * 86_400_000 }), transient: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
])

export const RpcRequestSchema = Type.Union([
  Type.Object({ type: Type.Literal('ping'), seq: Count, from: Type.Union([NodeRecordSchema, Type.Null()]), free: Type.Optional(ResourcesSchema) }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('ping-req'), seq: Count, target: Id }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('sync'), records: Records, digest: Type.Optional(Type.Array(Type.String({ maxLength: 16 }), { maxItems: 64 })), cells: Type.Optional(Cells) }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('sync-push'), records: Records }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('leave'), record: NodeRecordSchema }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('submit-job'), job: JobRecordSchema, reserved: Type.Optional(Id) }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('store-job'), job: JobRecordSchema, start: Type.Optional(AllocRefs), reserved: Type.Optional(Id) }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('job-update'), jobs: JobRecords }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('job-delta'), deltas: Type.Array(JobDeltaSchema, { maxItems: 20_000 }), start: Type.Optional(AllocRefs), free: Type.Optional(ResourcesSchema) }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('start'), job: JobRecordSchema, index: Count, attempt: Count }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('drain'), enable: Type.Boolean(), deadlineMs: Type.Integer({ minimum: 0, maximum: 30 * 86_400_000 }) }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('capacity') }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('hold'), id: Id, resources: ResourcesSchema }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('job-sync'), digests: JobDigestsSchema }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('directory'), contacts: Contacts, cells: Type.Optional(Cells) }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('api'), req: ApiRequestSchema }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('job-fetch'), ids: Type.Union([Type.Array(Id, { maxItems: 20_000 }), Type.Null()]), after: Type.Optional(Id) }, { additionalProperties: false }),
])

export const RpcResponseSchema = Type.Union([
  Type.Object({ type: Type.Literal('ack'), seq: Count, free: Type.Optional(ResourcesSchema) }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('nack'), seq: Count }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('sync'), records: Records, buckets: Type.Optional(Type.Array(Type.Integer({ minimum: 0, maximum: 63 }), { maxItems: 64 })) }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('jobs'), jobs: JobRecords, want: Type.Optional(Type.Array(Id, { maxItems: 200_000 })), next: Type.Optional(Id), collected: Type.Optional(Type.Array(Id, { maxItems: 20_000 })) }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('directory'), contacts: Contacts, cells: Type.Optional(Cells) }, { additionalProperties: false }),
  // The body is relayed to the HTTP client as it is: any JSON, bounded by the frame cap.
  Type.Object({ type: Type.Literal('api-reply'), status: Type.Integer({ minimum: 100, maximum: 599 }), body: Type.Unknown() }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('ok'), free: Type.Optional(ResourcesSchema), want: Type.Optional(Type.Array(Id, { maxItems: 20_000 })), conflicts: Type.Optional(Type.Array(Id, { maxItems: 20_000 })) }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('error'), code: Type.String({ maxLength: 64 }), message: Type.String({ maxLength: 1024 }) }, { additionalProperties: false }),
])

export type NodeRecordWire = Static<typeof NodeRecordSchema>
