// The directory: a few contacts in every other cell (see cells.ts). A node learns contacts from
// anything a node of another cell tells it (a ping, a push-pull, a forwarded request) and from a
// periodic exchange: every directoryMs it sends one contact of a random cell its whole directory
// and gets that node's back, plus a few live members of that node's own cell (fresh contacts
// from the one node that knows them all). A contact that fails a request is dropped.
// Per node this is O(cells) memory, and one message of O(cells) every directoryMs.
import { cellOf } from './cells.js'
import type { Rng } from './rng.js'
import type { Contact, Effect, Millis, NodeId, RpcRequest, RpcResponse } from './types.js'

export interface DirectoryConfig {
  cells: number
  /** Contacts kept per other cell. */
  perCell: number
  /** One exchange this often. */
  exchangeMs: number
  timeoutMs: number
}

export class Directory {
  private readonly byCell = new Map<number, Contact[]>()
  private readonly pending = new Map<number, NodeId>()
  private nextAt: Millis
  private holeRetryMs = 0
  readonly myCell: number

  constructor(
    private readonly selfId: NodeId,
    private readonly config: DirectoryConfig,
    private readonly rng: Rng,
    /** A few live members of our own cell, ourselves first: what we tell other cells. */
    private readonly ownSample: (k: number) => Contact[],
    private readonly nextCorr: () => number,
    /** A node of our own cell someone told us of (membership may not know it yet), in the step that brought it. */
    private readonly ownCell: (c: Contact, now: Millis, out: Effect[]) => void,
    now: Millis,
  ) {
    this.myCell = cellOf(selfId, config.cells)
    // One cell: no directory, and no draw from the shared rng (single-cell runs replay as before).
    // A new node looks for holes within a second; the regular exchange has a random phase.
    this.nextAt = config.cells > 1 ? now + 1_000 : Infinity
  }

  /** The cluster's cell count, as this node was started with it. */
  get cells(): number {
    return this.config.cells
  }

  get enabled(): boolean {
    return this.config.cells > 1
  }

  cellOf(id: string): number {
    return cellOf(id, this.config.cells)
  }

  /** Something a node of another cell said about itself or others; one of our own cell goes to `ownCell`. */
  heard(c: Contact, now: Millis, out: Effect[]): void {
    if (this.enabled && c.id !== this.selfId && this.cellOf(c.id) === this.myCell) this.ownCell(c, now, out)
    else this.note(c)
  }

  /** A contact in another cell (one of our own cell, or ourselves, is not kept here). */
  note(c: Contact): void {
    const cell = this.cellOf(c.id)
    if (!this.enabled || c.id === this.selfId || cell === this.myCell) return
    const list = this.byCell.get(cell) ?? []
    const i = list.findIndex((x) => x.id === c.id)
    if (i >= 0) {
      if (c.incarnation >= (list[i] as Contact).incarnation) list[i] = c
      return
    }
    // Newest first: a contact we just heard from is the likeliest to be up.
    list.unshift(c)
    if (list.length > this.config.perCell) list.length = this.config.perCell
    this.byCell.set(cell, list)
  }

  /** A contact failed a request: forget it (the next exchange brings others). */
  drop(id: NodeId): void {
    const cell = this.cellOf(id)
    const list = this.byCell.get(cell)
    if (list === undefined) return
    const rest = list.filter((c) => c.id !== id)
    if (rest.length === 0) this.byCell.delete(cell)
    else this.byCell.set(cell, rest)
  }

  contacts(cell: number): readonly Contact[] {
    return this.byCell.get(cell) ?? []
  }

  contact(id: NodeId): Contact | undefined {
    return this.byCell.get(this.cellOf(id))?.find((c) => c.id === id)
  }

  /** Cells other than ours that we know a contact in. */
  knownCells(): number[] {
    return [...this.byCell.keys()].sort((a, b) => a - b)
  }

  all(): Contact[] {
    return [...this.byCell.values()].flat()
  }

  // --- the exchange ---------------------------------------------------------------------------------

  onTick(now: Millis, out: Effect[]): void {
    if (!this.enabled || now < this.nextAt) return
    const cells = this.knownCells()
    if (cells.length < this.config.cells - 1) {
      // Holes (we joined through a member of our own cell, or our contacts there died): the
      // members of our cell share theirs. Soon at first, then less often (a cell may be empty).
      this.holeRetryMs = Math.min(this.config.exchangeMs, Math.max(1_000, 2 * this.holeRetryMs))
      this.nextAt = now + this.holeRetryMs
      const own = this.ownSample(2).filter((c) => c.id !== this.selfId)[0]
      if (own !== undefined) { this.exchangeWith(own.id, out); return }
    } else {
      this.holeRetryMs = 0
      this.nextAt = now + this.config.exchangeMs
    }
    if (cells.length === 0) return
    const list = this.contacts(cells[this.rng.int(cells.length)] as number)
    this.exchangeWith((list[this.rng.int(list.length)] as Contact).id, out)
  }

  /** When onTick next has something to do. */
  wakeAt(): Millis {
    return this.enabled ? this.nextAt : Infinity
  }

  /**
   * Contacts learned outside the protocol (a simulated cluster that "has run a while"): with every
   * cell known, the regular exchange gets a random phase, as it has in a cluster that ran a while.
   */
  learned(contacts: readonly Contact[], now: Millis): void {
    for (const c of contacts) this.note(c)
    if (this.enabled && this.knownCells().length >= this.config.cells - 1) this.nextAt = now + 1 + this.rng.int(this.config.exchangeMs)
  }

  /** An exchange with one node now (a node of another cell we just connected to: a join seed). */
  exchangeWith(to: NodeId, out: Effect[]): void {
    const corr = this.nextCorr()
    this.pending.set(corr, to)
    out.push({ kind: 'send', to, corr, msg: this.message(), timeoutMs: this.config.timeoutMs })
  }

  private message(): RpcRequest & { type: 'directory' } {
    return { type: 'directory', contacts: [...this.ownSample(this.config.perCell), ...this.all()], cells: this.config.cells }
  }

  /** Returns true when the request was a directory exchange (answered). */
  onRequest(reqId: number, msg: RpcRequest, now: Millis, out: Effect[]): boolean {
    if (msg.type !== 'directory') return false
    for (const c of msg.contacts) this.heard(c, now, out)
    out.push({ kind: 'reply', reqId, msg: this.message() })
    return true
  }

  /** Returns true when the answer was to one of our exchanges. */
  onResponse(corr: number, msg: RpcResponse | null, now: Millis, out: Effect[]): boolean {
    const to = this.pending.get(corr)
    if (to === undefined) return false
    this.pending.delete(corr)
    // A node of a cluster split into another number of cells is no contact (node-core.ts refuses it too).
    if (msg === null || msg.type !== 'directory' || (msg.cells !== undefined && msg.cells !== this.config.cells)) {
      this.drop(to)
      return true
    }
    for (const c of msg.contacts) this.heard(c, now, out)
    return true
  }
}
