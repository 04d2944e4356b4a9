// A job instance's output, read through GET /v1/jobs/{id}/logs (which the answering agent fetches
// from the node that ran it) and followed while the instance runs: each read starts where the last
// one ended (`x-murmur-log-offset`), and when a new attempt takes over (`x-murmur-allocation`
// changes) the view says so and reads that attempt from its start.
import { ApiFailure, type ApiClient } from './api-client.js'
import { setText } from './dom.js'

/** How often a running instance's log is read again: output shows up within a second. */
const FOLLOW_EVERY_MS = 1_000
/** The first read takes the tail: a long-running service's whole log is not what a person opens. */
const FIRST_READ_BYTES = 64 * 1024
/** Text kept in the view; older output scrolls off the top. */
const MAX_SHOWN_CHARS = 256 * 1024

export interface LogTarget {
  jobId: string
  index: number
  stream: 'stdout' | 'stderr'
  /** Whether the instance may still write (its latest attempt is starting or running). */
  running(): boolean
}

export class LogFollower {
  private stopped = false
  private readonly controller = new AbortController()

  constructor(private readonly client: ApiClient, private readonly target: LogTarget, private readonly out: HTMLPreElement, private readonly status: HTMLElement) {}

  start(): void {
    void this.loop()
  }

  stop(): void {
    this.stopped = true
    this.controller.abort()
  }

  private async loop(): Promise<void> {
    let offset = -FIRST_READ_BYTES
    let allocation = ''
    let text = ''
    const show = (more: string): void => {
      if (more === '') return
      text = (text + more).slice(-MAX_SHOWN_CHARS)
      const atBottom = this.out.scrollTop + this.out.clientHeight >= this.out.scrollHeight - 8
      this.out.textContent = text
      if (atBottom) this.out.scrollTop = this.out.scrollHeight
    }
    while (!this.stopped) {
      const wasRunning = this.target.running()
      try {
        const q = new URLSearchParams({ index: String(this.target.index), stream: this.target.stream, offset: String(offset) })
        const res = await this.client.request(`/v1/jobs/${encodeURIComponent(this.target.jobId)}/logs?${q.toString()}`,
          { headers: { accept: 'text/plain' }, signal: this.controller.signal })
        const chunk = await res.text()
        const alloc = res.headers.get('x-murmur-allocation') ?? ''
        if (allocation !== '' && alloc !== allocation) {
          // Another attempt now: read it from its start instead of at the old file's offset.
          allocation = alloc
          offset = -FIRST_READ_BYTES
          show(`\n──── attempt ${alloc.split('.')[1] ?? '?'} ────\n`)
          continue
        }
        allocation = alloc
        show(chunk)
        offset = Number(res.headers.get('x-murmur-log-offset') ?? offset + chunk.length)
        setText(this.status, `${this.target.stream} of instance ${this.target.index}, attempt ${alloc.split('.')[1] ?? '?'}${wasRunning ? ' · following' : ''}`)
        this.status.className = 'log-status'
        if (text === '') this.out.textContent = '(no output yet)'
      } catch (err) {
        if (this.stopped) return
        // The API's words: "no allocation yet (pending: …)", "cannot read the log … from n3: …".
        setText(this.status, err instanceof ApiFailure || err instanceof Error ? err.message : String(err))
        this.status.className = 'log-status error'
      }
      // Read once more after the run ended (its last output), then stop.
      if (!wasRunning) return
      await new Promise((resolve) => setTimeout(resolve, FOLLOW_EVERY_MS))
    }
  }
}
