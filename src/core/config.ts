// Timing profiles of the failure detector and state exchange. Like memberlist's LAN/WAN/local
// configs: one set of numbers per kind of network, each with the reason it has its value.

export interface MembershipConfig {
  /** How often the shell delivers a tick. Every deadline below is checked on ticks, so it bounds their precision. */
  tickMs: number
  /** A node starts one regular probe per interval (SWIM protocol period). */
  probeIntervalMs: number
  /** Wait this long for a direct ack before asking others to probe indirectly. */
  probeTimeoutMs: number
  /** How many peers are asked to probe indirectly (SWIM's k). */
  indirectProbes: number
  /** A probe round (direct + indirect) that has no ack after this long makes the target suspect. */
  probeRoundMs: number
  /**
   * A routine probe of an alive member that pinged us within this long is skipped (its turn in the
   * round-robin is spent): that ping proved it alive more recently than our probe would. Two
   * members whose turns to probe each other come close together need one exchange, not two. A
   * member that stops stops pinging, so its probers skip it only until this long after its last
   * ping. Never while our own probes fail (local health above 0): those probes are how a node
   * finds out it is the one cut off. 0: never skip.
   */
  probeFreshMs: number
  /** Suspicion timeout with enough independent confirmations (Lifeguard's lower bound). */
  suspicionMinMs: number
  /** Suspicion timeout with no confirmation at all (Lifeguard's upper bound). */
  suspicionMaxMs: number
  /**
   * Suspicion timeout when our own probe was refused outright (the direct dial and every relay's
   * found nothing listening at the member's address) and is not a timeout: that is a dead process,
   * never a slow one, since a stopped or stalled process's socket still accepts connections.
   */
  suspicionRefusedMs: number
  /** Most confirmations that still shorten the suspicion timeout (memberlist uses SuspicionMult - 2 = 2..3). */
  suspicionConfirmations: number
  /**
   * Refresh of a node's own record over gossip when nothing changed; 0: never (changes go out on
   * the next tick either way, and push-pull repairs what gossip lost).
   */
  announceIntervalMs: number
  /**
   * A node announces a change of its free capacity at most this often (every job start and end
   * changes it). Placement tolerates a stale view: an offer reserves on the node's own books or
   * is turned down, and the next candidate gets it.
   */
  capacityAnnounceMs: number
  /**
   * Full-state exchange (push-pull) with one random member (when connected to it: probe-targets.ts),
   * besides the one on every new connection.
   */
  syncIntervalMs: number
  /** Ignore a second connection-triggered sync to the same peer within this window. */
  syncDebounceMs: number
  /**
   * A push-pull with one random member we hold dead, this often (Serf's reconnect). Nobody probes
   * the dead and unchanged records are not re-announced, so this is how the two sides of a healed
   * partition, or a node that restarted while cut off, find each other again. 0: never.
   */
  reconnectIntervalMs: number
  /**
   * A probe goes to a member we hold no connection to at most this often; members we are
   * connected to are probed in between (probe-targets.ts). A new connection costs ~50 ms of CPU
   * for both ends, and the connections a probe dials stay open, so this is how fast a node's
   * share of the full mesh grows.
   */
  probeDialIntervalMs: number
  /**
   * A probe of a member we are not connected to dials it first; its ping's timeout starts once
   * the connection is up, and this is how long the dial may take. A handshake costs ~50 ms of CPU
   * at each end, so on a busy machine it took longer than the whole probe round: in a 50-agent
   * join on 2 cores, such probes failed and their suspicions were refuted (one gossip message to
   * every node each). A refused dial still fails the probe at once, so a dead process is found as
   * fast as before; only a member that accepts connections and never completes the handshake
   * (frozen) is suspected this much later by a prober that was not connected to it. Only a
   * routine probe waits (membership.ts): a checker's probe of a suspect keeps the plain timing.
   */
  probeDialWaitMs: number
  /**
   * A dead or left member is dropped from the table this long after this node saw it go, and its
   * old records are ignored for as long again (member-table.ts). Serf reaps failed and left
   * members after 24 h; the dead are also who the reconnect push-pull tries, so a partition that
   * lasts longer than this heals only through discovery (mDNS, the join loop).
   */
  reapAfterMs: number
  /**
   * Lifeguard's local health multiplier cap: a node whose own probes fail, or that has to refute
   * suspicions of itself, is probably the slow one, so it stretches its probe interval and
   * timeouts by (1 + health) instead of accusing others. memberlist uses 8.
   */
  maxLocalHealth: number
}

/**
 * One LAN or one machine. Goals (issue 2): a SIGKILLed node is dead within 1.5 s, a SIGSTOPped
 * one within 4 s, and a node whose event loop stalls for 300 ms is never declared dead.
 */
export const LAN: MembershipConfig = {
  // 100 ms: deadlines land within 0.1 s of their time, at ~10 wake-ups/s of negligible cost.
  tickMs: 100,
  // 500 ms: with N probers a frozen node is first probed after ~500/N ms on average; ping+ack is
  // two small stream messages, so even 100 nodes cost ~400 msg/s cluster-wide, spread out.
  probeIntervalMs: 500,
  // 400 ms: above the 300 ms stall we must tolerate plus loopback/LAN round trips (~1 ms).
  probeTimeoutMs: 400,
  // 3: SWIM's usual k; enough that one slow relay does not make a false suspicion.
  indirectProbes: 3,
  // 1000 ms: the indirect probes get ~600 ms, again above a 300 ms stall on the relay or target.
  probeRoundMs: 1000,
  // 1000 ms (two probe intervals): in the simulator's 5-node cluster 40% fewer probes, and a
  // SIGSTOPped node dead everywhere p50/p99 2.33/3.32 s (2.22/3.27 s with 0; 60 seeds).
  probeFreshMs: 1000,
  // 1000 ms: a suspected node that merely stalled for 300 ms has ~700 ms to see the claim and refute
  // it. With a SIGKILL every peer suspects at once (closed connection + refused dial), so death is
  // declared at ~1.05 s: inside the 1.5 s goal.
  suspicionMinMs: 1000,
  // 2500 ms: a frozen node is suspected ~1-1.5 s after its first failed probe; even with no
  // confirmation it is dead 2.5 s later, inside the 4 s goal.
  suspicionMaxMs: 2500,
  // 150 ms: a refused dial is a dead process (a stalled or frozen one still accepts: the kernel
  // holds its listening socket). Our probe skips the relays then (they cannot reach a process that
  // is not there). What is left is time for a member that restarted on a new address to be heard
  // with its new incarnation; declaring its old incarnation dead is right anyway, since the runs
  // of that process died with it. Measured on 5 agents: SIGKILL -> dead everywhere ~0.25 s.
  suspicionRefusedMs: 150,
  suspicionConfirmations: 3,
  // 0, never: changes are pushed at once (capacity at most once a second, below), and a refresh of
  // an unchanged record only repairs lost gossip, which the push-pull below repairs anyway (a
  // record spreads epidemically through syncs in O(log N) intervals). Every node received every
  // refresh (~8 copies of ~610 B): at 5 s that was 0.9 MB/s per node at 1,000 nodes in the
  // simulator, at 30 s still half of the idle bytes (60 of 112 KB/s).
  announceIntervalMs: 0,
  // 1 s: at 100 nodes and 72 jobs/s every node announced ~1.7 capacity changes a second, and every
  // node received all of them (~8 copies of ~610 B each).
  capacityAnnounceMs: 1000,
  // 5 s: a node that missed messages converges within one interval without waiting for news.
  syncIntervalMs: 5000,
  syncDebounceMs: 1000,
  // 10 s: a healed partition merges within ~10 s / (nodes on the other side); a dial to a member
  // that is really gone is refused at once, ~1 round trip per node per 10 s.
  reconnectIntervalMs: 10_000,
  // 2 s: one agent per machine pays 50 ms per 2 s (2.5% of a core) while its connections grow;
  // it is probed by its neighbours meanwhile, so detection does not wait for the mesh.
  probeDialIntervalMs: 2_000,
  // 0: a handshake on a LAN takes milliseconds, inside the probe timeout. Members that share one
  // machine's cores wait longer (colocated() below).
  probeDialWaitMs: 0,
  // 24 h, as Serf: a member table holds the members of the last day.
  reapAfterMs: 24 * 3_600_000,
  maxLocalHealth: 8,
}

/** Many nodes over a real WAN: higher and more variable latency, so everything is ~2.5x slower. */
export const WAN: MembershipConfig = {
  tickMs: 200,
  probeIntervalMs: 1000,
  probeTimeoutMs: 1000,
  indirectProbes: 3,
  probeRoundMs: 2500,
  probeFreshMs: 2000,
  suspicionMinMs: 3000,
  suspicionMaxMs: 8000,
  // Across a WAN a middlebox may refuse for a while (a flapping route, a restarting proxy): no shortcut.
  suspicionRefusedMs: 3000,
  suspicionConfirmations: 3,
  announceIntervalMs: 0,
  capacityAnnounceMs: 2000,
  syncIntervalMs: 15000,
  syncDebounceMs: 2000,
  reconnectIntervalMs: 30_000,
  probeDialIntervalMs: 5_000,
  probeDialWaitMs: 0,
  reapAfterMs: 24 * 3_600_000,
  maxLocalHealth: 8,
}

/**
 * Tests: the LAN detector (it is what tests must prove), with faster repair of lost gossip,
 * slower growth of the connection mesh (many agents share one machine), and reaping in seconds.
 */
export const TEST: MembershipConfig = {
  ...LAN,
  syncIntervalMs: 2000,
  reconnectIntervalMs: 2000,
  // Tests run tens of agents on one 2-core machine: 50 agents dialling every 2 s made 25
  // handshakes a second, more than half the machine while they start.
  probeDialIntervalMs: 5_000,
  // 30 s: long enough for what tests check after a death (dead cards, lost runs, a page served
  // by the dead agent), short enough that a test sees a member reaped.
  reapAfterMs: 30_000,
}

/**
 * How long a push-pull waits for its answer. Normally 2 probe rounds: an answer may carry many
 * records, but it is still one frame on loopback or a LAN. A node that knows nobody yet (its join
 * sync) waits 10 rounds: its seed answers every new member at once while it is starting too, and
 * with 50 agents on 2 cores its answers took longer than 2 s; the joiner dropped each late
 * answer (the seed's work, a whole table, thrown away) and asked again 5 s later, so that 44 of
 * 50 agents still knew nobody 20 s after the launch and the last one only after ~90 s.
 */
export function syncTimeoutMs(config: MembershipConfig, joining: boolean): number {
  return (joining ? 10 : 2) * config.probeRoundMs
}

/**
 * Members that share one machine (libp2p on a loopback address: `murmur up`, the bench) pay for
 * every handshake twice, on the same cores: 50 agents dialling a member each every 2 s (LAN) were
 * 25 handshakes a second, about 60% of a 2-core machine for the minute and more the mesh takes to grow,
 * while they were starting; their probes timed out and members flapped dead. At 5 s (as TEST) it
 * is a quarter of the machine. Detection does not wait for the mesh (probe-targets.ts).
 */
const COLOCATED_PROBE_DIAL_MS = 5_000

/**
 * How long a colocated member's probe dial may take (probeDialWaitMs): with 50 agents starting on
 * 2 cores a handshake took seconds. Measured with probes that also wait for late acks, back to back
 * under the lock (scripts/join-trace.ts --n 50): suspicions 234 and 124 -> 85 and 36 per join.
 */
const COLOCATED_PROBE_DIAL_WAIT_MS = 3_000

/** `profile` for a node whose members share its machine (see COLOCATED_PROBE_DIAL_MS). */
export function colocated(profile: MembershipConfig): MembershipConfig {
  return {
    ...profile,
    probeDialIntervalMs: Math.max(profile.probeDialIntervalMs, COLOCATED_PROBE_DIAL_MS),
    probeDialWaitMs: Math.max(profile.probeDialWaitMs, COLOCATED_PROBE_DIAL_WAIT_MS),
  }
}

export const PROFILES = { lan: LAN, wan: WAN, test: TEST } as const
export type ProfileName = keyof typeof PROFILES
