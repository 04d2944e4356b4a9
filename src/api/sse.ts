// Server-Sent Events over a hijacked fastify reply: the stream framing, heartbeats that keep
// proxies from timing out an idle stream, and a cap on what a slow reader can make us buffer.
import type { FastifyReply } from 'fastify'

export interface SseOptions {
  /** Comment line sent this often on an idle stream; 15 s is under the 30-60 s idle timeouts of common proxies. */
  heartbeatMs: number
  /** A client that lets this much output pile up is cut off rather than held in memory. */
  maxBufferedBytes: number
  /** Reconnect delay suggested to EventSource clients. */
  retryMs: number
}

export const DEFAULT_SSE_OPTIONS: SseOptions = {
  heartbeatMs: 15_000,
  maxBufferedBytes: 1 << 20,
  retryMs: 2_000,
}

/** One open event stream. */
export interface SseStream {
  /** Sends one event; a no-op once the stream is closed. */
  send(event: string, data: unknown): void
  /** Ends the stream from our side (server shutdown). */
  close(): void
  /** Runs once when the stream ends, whoever ends it. */
  onClose(listener: () => void): void
  readonly closed: boolean
}

/** Takes the reply over from fastify and starts an event stream on it. */
export function openSse(reply: FastifyReply, options: SseOptions = DEFAULT_SSE_OPTIONS): SseStream {
  // Headers hooks already set on the reply (CORS) would be lost with the hijack: carry them over.
  const hookHeaders: Record<string, string | number | string[]> = {}
  for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) hookHeaders[name] = value
  reply.hijack()
  const raw = reply.raw
  raw.writeHead(200, {
    ...hookHeaders,
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    // nginx buffers responses unless told not to, which would hold events back.
    'x-accel-buffering': 'no',
  })
  // Send something at once, so clients (and fetch) see the headers without waiting for an event.
  raw.write(`retry: ${options.retryMs}\n: connected\n\n`)

  let closed = false
  const listeners: Array<() => void> = []
  const heartbeat = setInterval(() => write(': heartbeat\n\n'), options.heartbeatMs)
  heartbeat.unref()

  const finish = (): void => {
    if (closed) return
    closed = true
    clearInterval(heartbeat)
    for (const listener of listeners.splice(0)) {
      try { listener() } catch { /* a listener's failure must not keep the others from running */ }
    }
  }
  raw.on('close', finish)
  raw.on('error', finish)

  function write(chunk: string): void {
    if (closed || raw.destroyed) return
    if (raw.writableLength > options.maxBufferedBytes) {
      raw.destroy()
      return
    }
    raw.write(chunk)
  }

  return {
    send(event, data) {
      // JSON.stringify never emits raw newlines, so one `data:` line carries the whole event.
      write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
    },
    close() {
      if (!closed && !raw.destroyed) raw.end()
      finish()
    },
    onClose(listener) {
      if (closed) listener()
      else listeners.push(listener)
    },
    get closed() { return closed },
  }
}
