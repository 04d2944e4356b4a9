// The idle window and the packing measurement of `npm run sim` on their own thread (scripts/sim.ts
// starts it beside the workload). The sources are TypeScript and a worker does not inherit tsx's
// loader, so this plain module loads them through tsx's API. Progress goes to the parent through
// shared memory: the parent's event loop is busy with the workload and reads messages only at its end.
import { parentPort, workerData } from 'node:worker_threads'
import { tsImport } from 'tsx/esm/api'

const { measureCluster } = await tsImport('../src/sim/packing.ts', import.meta.url)
const shared = new Float64Array(workerData.progress)
const result = measureCluster({
  ...workerData.options,
  onProgress: (p) => {
    shared[0] = p.fraction
    shared[1] = p.simSeconds
  },
})
parentPort.postMessage(result)
