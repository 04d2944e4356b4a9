// The failure detector's bound on a lab of real hosts, from the profile's own numbers
// (src/core/config.ts): how long after a host is cut off every other host may take to call it
// dead. Pure.
import { PROFILES, type ProfileName } from '../../src/core/config.js'

/**
 * A cut host times out (it never refuses), so the refused-dial shortcut does not apply:
 * - each other member probes the members in a shuffled round-robin, one per probe interval, so
 *   it probes the cut host within (members - 1) intervals;
 * - that probe round (direct, then indirect through the others) fails after probeRoundMs;
 * - the suspicion becomes death after at most suspicionMaxMs (less when others confirm it);
 * - two ticks: deadlines are checked on ticks, and the observer's API reads the result.
 * Each observer reaches its own verdict this way (the gossip of the first only makes it sooner).
 * An observer whose Lifeguard local health is h (murmur_local_health: its own probes failed
 * lately) stretches its probe interval and round by (1 + h), on purpose: it may be the slow one.
 */
export function detectionBoundMs(profile: ProfileName, members: number, health = 0): number {
  const c = PROFILES[profile]
  return (c.probeIntervalMs * Math.max(1, members - 1) + c.probeRoundMs) * (1 + health) + c.suspicionMaxMs + 2 * c.tickMs
}

/**
 * The cut host's own bound for seeing every other host dead: every probe it makes fails, and each
 * failure raises its local health by one (Lifeguard: it is the one cut off), so its later probes
 * stretch; at most members - 2 failures come before its last probe starts.
 */
export function isolatedBoundMs(profile: ProfileName, members: number, health = 0): number {
  return detectionBoundMs(profile, members, health + Math.max(0, members - 2))
}
