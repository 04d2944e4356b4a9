// bareSpawnPerSec's loop, in a fresh Node process of its own (measure-throughput.ts starts it):
// spawns `true` COUNT times, CONCURRENCY at a time, each to its exit, and prints the rate as JSON.
//
// Not in the bench process itself: fork() copies the parent's page tables, so a parent's spawn
// rate falls with its size (here 262 and 176 spawns/s from a 50 MB Node process, 48 from a 290 MB
// one), and the bench grows during a run. murmur's own jobs are forked by a small spawner process
// (src/execution), so a small process is the ceiling to compare with.
import { spawn } from 'node:child_process'

const count = Number(process.argv[2])
const concurrency = Number(process.argv[3])
if (!(count > 0) || !(concurrency > 0)) throw new Error('usage: bare-spawn.js COUNT CONCURRENCY')

function spawnTrue() {
  return new Promise((resolve, reject) => {
    const child = spawn('true', [], { stdio: 'ignore' })
    child.once('error', reject)
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`true exited ${code}`))))
  })
}

let next = 0
async function worker() {
  while (next < count) {
    next++
    await spawnTrue()
  }
}

const t0 = performance.now()
await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker))
const seconds = (performance.now() - t0) / 1000
process.stdout.write(`${JSON.stringify({ perSec: count / seconds, rssMb: process.memoryUsage().rss / 2 ** 20 })}\n`)
