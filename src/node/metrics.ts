// The agent's Prometheus metrics. Counters are labelled by message type and drop reason, the
// labels Lodestar's validator adapter uses, so a bad peer or a lossy link shows up by name.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client'
import type { NodeCore } from '../core/node-core.js'

/**
 * Period of prom-client's event-loop lag histogram. Each sample is a native timer that wakes the
 * event loop, and an idle agent otherwise wakes only a few times a second (its probes), so a
 * short period would be much of its idle CPU for a figure read only when scraped. Once a second
 * still shows sustained lag; a single stall is what the failure detector watches for itself, on
 * the core's own ticks (src/core/tick-clock.ts).
 */
const EVENT_LOOP_SAMPLE_MS = 1_000

export interface AgentMetrics {
  registry: Registry
  gossipPublished: Counter<'type'>
  gossipReceived: Counter<'type'>
  rpcSent: Counter<'type'>
  rpcReceived: Counter<'type'>
  rpcFailed: Counter<'type' | 'reason'>
  messagesDropped: Counter<'channel' | 'reason'>
}

export function createAgentMetrics(getCore: () => NodeCore | undefined, now: () => number): AgentMetrics {
  const registry = new Registry()
  // The event-loop lag histogram samples with a native timer at this period (prom-client's default
  // is 10 ms).
  collectDefaultMetrics({ register: registry, prefix: 'murmur_process_', eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS })
  const c = <L extends string>(name: string, help: string, labelNames: L[]): Counter<L> =>
    new Counter({ name, help, labelNames, registers: [registry] })
  new Gauge({
    name: 'murmur_members', help: 'Members by state, as this node sees them', labelNames: ['state'], registers: [registry],
    collect() {
      this.reset()
      for (const n of getCore()?.nodes(now()) ?? []) this.inc({ state: n.state })
    },
  })
  const stat = (name: string, help: string, key: keyof NodeCore['stats']): void => {
    new Gauge({ name, help, registers: [registry], collect() { const core = getCore(); if (core !== undefined) this.set(core.stats[key]) } })
  }
  stat('murmur_probes_total', 'Direct probes started', 'probes')
  stat('murmur_indirect_probes_total', 'Indirect probes (ping-req) sent', 'indirectProbes')
  stat('murmur_suspicions_total', 'Suspicions this node raised', 'suspicions')
  stat('murmur_refutations_total', 'Suspicions of itself this node refuted', 'refutations')
  stat('murmur_deaths_declared_total', 'Members this node declared dead', 'deathsDeclared')
  stat('murmur_syncs_total', 'Full-state exchanges (push-pull)', 'syncs')
  stat('murmur_local_health', 'Lifeguard local health multiplier (0 = healthy)', 'localHealth')
  stat('murmur_members_reaped_total', 'Dead or left members dropped from the member table after the reap time', 'reaped')
  stat('murmur_members_learned_by_gossip_total', 'Members this node first heard of in a gossip message', 'learnedByGossip')
  stat('murmur_members_learned_by_push_pull_total', 'Members this node first heard of in a push-pull', 'learnedByPushPull')
  stat('murmur_members_learned_otherwise_total', 'Members this node first heard of on a ping carrying a record', 'learnedOtherwise')
  stat('murmur_members_relayed_total', 'New members this node gossiped after hearing of them first hand in a push-pull', 'relayed')
  stat('murmur_jobs_submitted_total', 'Jobs this node acknowledged (stored on their replicas)', 'submitted')
  stat('murmur_instances_placed_total', 'Instance attempts this node claimed for a node as an arbiter', 'placed')
  stat('murmur_starts_refused_total', 'Starts this node refused because its own books had no room (a stale view elsewhere)', 'startsRefused')
  stat('murmur_instances_started_total', 'Instance attempts this node started', 'started')
  stat('murmur_replicas_repaired_total', 'Job copies this node sent to a node that became one of the job\'s storing nodes', 'replicasRepaired')
  stat('murmur_drain_moves_total', 'Runs moved off a draining node after their replacement started (as arbiter)', 'drainMoves')
  stat('murmur_jobs_collected_total', 'Finished jobs this node dropped after their retention window', 'collected')
  stat('murmur_placements_no_room_total', 'Placement passes that found no room for an instance (it waits)', 'noRoomPasses')
  stat('murmur_capacity_asks_total', 'Nodes this node asked for their free capacity because its view had no room for an instance', 'capacityAsks')
  stat('murmur_duplicates_stopped_total', 'Runs this node stopped because the job record gives them to another node or a newer attempt', 'duplicatesStopped')
  return {
    registry,
    gossipPublished: c('murmur_gossip_published_total', 'Gossip messages published', ['type']),
    gossipReceived: c('murmur_gossip_received_total', 'Valid gossip messages received', ['type']),
    rpcSent: c('murmur_rpc_sent_total', 'Direct requests sent', ['type']),
    rpcReceived: c('murmur_rpc_received_total', 'Valid direct requests received', ['type']),
    rpcFailed: c('murmur_rpc_failed_total', 'Direct requests without an answer', ['type', 'reason']),
    messagesDropped: c('murmur_messages_dropped_total', 'Messages dropped by the codec', ['channel', 'reason']),
  }
}
