// src/execution: runs allocation attempts as real processes on this machine. The core decides
// what runs (and whether attempt N+1 follows attempt N); this module starts one attempt as its own
// process group, sends its output to files in the allocation's directory, enforces its timeout
// and memory limit (cgroup v2 where we may, polling RSS from /proc otherwise), stops it on
// request and reports how it ended through a callback. The processes are forked by a small
// spawner process (spawner.mjs, one per supervisor), not by the agent: a fork copies the forking
// process's page tables, and the agent's are many times larger. It imports only node:* and pino; the
// core, placement and gossip never import it (src/node wires the two together).
export { Supervisor, DEFAULT_GRACE_MS, DEFAULT_RSS_POLL_MS } from './supervisor.js'
export { readLog, DEFAULT_MAX_READ_BYTES, type LogChunk, type ReadLogOptions } from './log-reader.js'
export { allocationDir, allocationLogPath, parseAllocationId, type ParsedAllocationId } from './launch-spec.js'
export type { ExitInfo, ExitReason, LaunchSpec, MemoryEnforcement, SupervisorOptions } from './types.js'
