// Checks that a fault is really on the wire, with plain TCP from inside the hosts (net-probe.js):
// can one host open a connection to another, and at what rate does data flow between them.
import { execFile, spawn } from 'node:child_process'
import { resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { promisify } from 'node:util'
import type { HostNames } from './names.js'

const run = promisify(execFile)
const PROBE = resolve(import.meta.dirname, 'net-probe.js')
/** A port no agent uses, for the throughput sink. */
const SINK_PORT = 7999

/** `connected`, `refused`, `timeout`, or `error <code>` (a blackhole route: `error EINVAL`). */
export async function tcpConnect(from: HostNames, to: HostNames, port: number, timeoutMs = 2_000): Promise<string> {
  const { stdout } = await run('ip', ['netns', 'exec', from.ns, process.execPath, PROBE, 'connect', to.addr, String(port), String(timeoutMs)], { timeout: timeoutMs + 10_000 })
  return stdout.trim()
}

/**
 * Sends `bytes` from `from` to `to` over TCP and returns the rate the receiver saw, in kbit/s
 * (first byte to the end of the stream). Bounded by `timeoutMs`; both processes are killed then.
 */
export async function throughputKbit(from: HostNames, to: HostNames, bytes: number, timeoutMs = 30_000): Promise<number> {
  const sink = spawn('ip', ['netns', 'exec', to.ns, process.execPath, PROBE, 'sink', to.addr, String(SINK_PORT)], { stdio: ['ignore', 'pipe', 'inherit'] })
  let sender: ReturnType<typeof spawn> | undefined
  let timer: NodeJS.Timeout | undefined
  try {
    const lines = createInterface({ input: sink.stdout! })[Symbol.asyncIterator]()
    const result = (async (): Promise<string> => {
      const first = await lines.next()
      if (first.value !== 'listening') throw new Error(`the sink in ${to.name} did not listen: ${String(first.value)}`)
      sender = spawn('ip', ['netns', 'exec', from.ns, process.execPath, PROBE, 'send', to.addr, String(SINK_PORT), String(bytes)], { stdio: 'ignore' })
      const answer = await lines.next()
      return String(answer.value)
    })()
    const line = await Promise.race([result, new Promise<never>((_, rej) => { timer = setTimeout(() => rej(new Error(`no throughput answer within ${timeoutMs} ms`)), timeoutMs) })])
    const m = /^(\d+) (\d+)$/.exec(line)
    if (m === null) throw new Error(`throughput ${from.name} -> ${to.name}: ${line}`)
    return (Number(m[1]) * 8) / Math.max(1, Number(m[2]))
  } finally {
    clearTimeout(timer)
    sink.kill('SIGKILL')
    sender?.kill('SIGKILL')
  }
}
