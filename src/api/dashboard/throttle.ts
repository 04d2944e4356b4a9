// A refresh that many events may ask for at once: it runs at most once per `gapMs`, never twice
// at the same time, and a request made while it runs gets one more run after it.

export class Throttled {
  private running = false
  private wanted = false
  private timer: ReturnType<typeof setTimeout> | undefined
  private last = 0

  constructor(private readonly task: () => Promise<void>, private readonly gapMs: number) {}

  request(): void {
    this.wanted = true
    if (this.running || this.timer !== undefined) return
    const wait = this.last + this.gapMs - Date.now()
    if (wait > 0) this.timer = setTimeout(() => { this.timer = undefined; this.run() }, wait)
    else this.run()
  }

  /** Runs it now (unless it is running) and resolves when that run is over. */
  async now(): Promise<void> {
    if (this.running) { this.wanted = true; return }
    clearTimeout(this.timer)
    this.timer = undefined
    this.wanted = true
    await this.runOnce()
    if (this.wanted) this.request()
  }

  private run(): void {
    void this.runOnce().then(() => { if (this.wanted) this.request() })
  }

  private async runOnce(): Promise<void> {
    if (!this.wanted) return
    this.wanted = false
    this.running = true
    this.last = Date.now()
    try {
      await this.task()
    } catch { /* the task reports its own failures; the next event or tick tries again */ } finally {
      this.running = false
    }
  }
}
