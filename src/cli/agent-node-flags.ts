/**
 * Node flags every agent process runs with, whoever starts it: `murmur up` (node-process.ts), the
 * test and bench fleets, the lab's hosts, and `npx murmur agent` through bin/murmur.js's shebang
 * (which cannot import this file; test/unit/agent-node-flags.test.ts keeps the two equal).
 *
 * `--v8-pool-size=1`: V8 keeps a pool of background threads (concurrent marking and sweeping,
 * optimising compilation), four by default. An agent's JavaScript is one event loop that is idle
 * most of the time, and each of those threads holds its own stack and malloc arena: with one, an
 * idle agent's RSS is ~5 MB smaller (`npm run bench -- --only idle,throughput --runs 1`, twice each
 * way: 82.3 and 87.6 MB with the default, 77.5 and 77.4 MB with one thread).
 */
export const AGENT_NODE_FLAGS: readonly string[] = ['--v8-pool-size=1']
