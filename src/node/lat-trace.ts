// A latency trace for finding where a job's submit->start goes (bench/README.md, "Tracing one
// submit"): when MURMUR_LAT_TRACE names a directory, each agent appends one line per step of the
// hot path, "<epoch ms, to the microsecond> <what>", to <dir>/<pid>.trace; scripts/bench/
// trace-latency.ts merges the agents' files into one timeline per job. Off (the default) it costs
// one boolean test per call site; on, a synchronous write per line (~5 us), so the figures it
// gives are for finding stages, not for the bench's tables.
import { openSync, writeSync } from 'node:fs'
import type { FastifyInstance } from 'fastify'
import type { CoreEvent, Effect } from '../core/types.js'
import { epochOffsetMs } from './epoch-clock.js'

const dir = process.env.MURMUR_LAT_TRACE
const fd = dir === undefined || dir === '' ? -1 : openSync(`${dir}/${process.pid}.trace`, 'a')

/** performance.now() made epoch milliseconds, as the bench's clock is (scripts/bench/clock.ts). */
const offset = fd < 0 ? 0 : epochOffsetMs()

/** Whether this process traces (call sites test it before building their line). */
export const tracing = fd >= 0

/** Appends one line to this process's trace. */
export function trace(what: string): void {
  if (fd >= 0) writeSync(fd, `${(offset + performance.now()).toFixed(3)} ${what}\n`)
}

/** The last 4 characters of a peer id: enough to tell a handful of agents apart in a trace. */
export function shortId(id: string): string {
  return id.slice(-4)
}

/** When tracing, the HTTP side of a POST: headers in (after the API's own onRequest checks), body validated, reply sent. */
export function traceHttp(app: FastifyInstance): void {
  if (!tracing) return
  app.addHook('onRequest', async (request) => { if (request.method === 'POST') trace(`http-in ${request.url}`) })
  app.addHook('preHandler', async (request) => { if (request.method === 'POST') trace('http-validated') })
  app.addHook('onSend', async (request) => { if (request.method === 'POST') trace('http-reply') })
}

/**
 * One core step, traced: what came in, the core's time and the time to carry its effects out,
 * and the effects in order (S: send, P: persist, R/A: reply/api-reply, * when after all writes,
 * X: start-process, E: emit, G: publish). Idle ticks are left out. `cpu` is the CPU time the
 * process used meanwhile (all its threads): a wall time well above it is time spent waiting for
 * a core, which on a shared machine is most of a step's spread.
 */
export function traceStep(ev: CoreEvent, step: () => readonly Effect[], apply: (effects: readonly Effect[]) => void): void {
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  const effects = step()
  const t1 = performance.now()
  const c1 = process.cpuUsage(c0)
  apply(effects)
  const t2 = performance.now()
  const c2 = process.cpuUsage(c0)
  if (ev.kind === 'tick' && effects.length === 0) return
  const cpuMs = (c: NodeJS.CpuUsage): string => ((c.user + c.system) / 1000).toFixed(3)
  trace(`step ${describeEvent(ev)} core=${(t1 - t0).toFixed(3)} apply=${(t2 - t1).toFixed(3)} cpu=${cpuMs(c1)}/${cpuMs(c2)} [${effects.map(describeEffect).join(',')}]`)
}

function describeEvent(ev: CoreEvent): string {
  switch (ev.kind) {
    case 'rpc-request': return `req:${ev.msg.type}<${shortId(ev.from)}`
    case 'rpc-response': return `resp:${ev.msg.type}<${shortId(ev.from)}`
    case 'gossip': return `gossip:${ev.msg.type}`
    case 'api': return `api:${ev.req.op}`
    default: return ev.kind
  }
}

function describeEffect(e: Effect): string {
  switch (e.kind) {
    case 'send': return `S:${e.msg.type}>${shortId(e.to)}`
    case 'persist': return 'P'
    case 'reply': return e.afterAllWrites === true ? 'R*' : 'R'
    case 'api-reply': return e.afterAllWrites === true ? 'A*' : 'A'
    case 'start-process': return 'X'
    case 'emit': return 'E'
    case 'publish': return `G:${e.msg.type}`
    default: return e.kind
  }
}
