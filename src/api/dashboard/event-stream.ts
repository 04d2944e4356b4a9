// GET /v1/events read with fetch() instead of EventSource: EventSource cannot send the
// Authorization header, and the token must never go into a URL. This is the text/event-stream
// format (https://html.spec.whatwg.org/multipage/server-sent-events.html) as the API writes it:
// `event:` and `data:` lines, comments (heartbeats), events ended by a blank line.

/** One event of the stream: its type and its data lines joined. */
export interface StreamEvent { type: string; data: string }

/**
 * The API sends a heartbeat comment every 15 s; a stream silent for this long is on a frozen or
 * cut-off agent (a dead one closes the connection at once), so the reader gives up on it.
 */
export const STREAM_IDLE_MS = 40_000

/** Splits text/event-stream chunks into events. Feed it text; it calls `onEvent` per event. */
export class EventStreamParser {
  private buffer = ''
  private type = ''
  private data: string[] = []

  constructor(private readonly onEvent: (event: StreamEvent) => void) {}

  push(chunk: string): void {
    this.buffer += chunk
    let start = 0
    for (;;) {
      const nl = this.buffer.indexOf('\n', start)
      if (nl < 0) break
      let line = this.buffer.slice(start, nl)
      if (line.endsWith('\r')) line = line.slice(0, -1)
      start = nl + 1
      this.line(line)
    }
    this.buffer = this.buffer.slice(start)
  }

  private line(line: string): void {
    if (line === '') {
      if (this.data.length > 0) this.onEvent({ type: this.type || 'message', data: this.data.join('\n') })
      this.type = ''
      this.data = []
      return
    }
    if (line.startsWith(':')) return
    const colon = line.indexOf(':')
    const field = colon < 0 ? line : line.slice(0, colon)
    let value = colon < 0 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'event') this.type = value
    else if (field === 'data') this.data.push(value)
  }
}

/**
 * Reads an open event stream until it ends, fails, goes silent for `idleMs`, or `signal` aborts.
 * Resolves when the server ended it; rejects on a broken connection or a silent stream.
 */
export async function readEventStream(res: Response, onEvent: (event: StreamEvent) => void, signal: AbortSignal, idleMs = STREAM_IDLE_MS): Promise<void> {
  if (res.body === null) throw new Error('the event stream has no body')
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
  const parser = new EventStreamParser(onEvent)
  let idle: ReturnType<typeof setTimeout> | undefined
  let rearm = (): void => {}
  const silent = new Promise<never>((_, reject) => {
    rearm = () => {
      clearTimeout(idle)
      idle = setTimeout(() => reject(new Error(`no event or heartbeat for ${idleMs / 1000} s`)), idleMs)
    }
  })
  rearm()
  const onAbort = (): void => { void reader.cancel() }
  signal.addEventListener('abort', onAbort, { once: true })
  try {
    for (;;) {
      const { value, done } = await Promise.race([reader.read(), silent])
      if (done) return
      rearm()
      parser.push(value)
    }
  } finally {
    clearTimeout(idle)
    signal.removeEventListener('abort', onAbort)
    void reader.cancel().catch(() => undefined)
  }
}
