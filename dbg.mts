import { SimCluster } from './src/sim/sim-cluster.js'
import { LAN } from './src/core/config.js'
const sim = new SimCluster({ seed: 1, config: LAN, recordEvents: false })
const shapes = Array.from({ length: 300 }, (_, i) => ({ id: `n${i}`, name: `n${i}`, total: { cpu: 4, memoryMb: 8192 } }))
// @ts-ignore
sim.bootWarm(shapes, LAN.syncIntervalMs)
sim.run(2000)
for (let k = 0; k < 6; k++) {
  sim.resetGossipStats()
  const a = sim.net.traffic.snapshot(sim.nodeCount())
  sim.run(5000)
  // @ts-ignore
  console.log(k, JSON.stringify(sim.gossip.stats))
}
