// API requests across cells (see cells.ts). A job lives in cell hash(id) mod cells, a node in
// cell hash(node id) mod cells. A request for either that reaches a node of another cell goes to
// a contact of the owning cell (src/core/directory.ts) as an `api` rpc, which that node answers
// as if its own API had taken it; a contact that fails is dropped and the next one tried. A
// cluster-wide listing asks one contact per known cell for its cell's jobs and merges the lists
// with our own cell's. A forwarded request is never forwarded again.
//
// Spill: a submit without an idempotency key (`movable`) may take another id, so another cell.
// Its id's cell is asked to admit it (store it only if it has room, admission.ts); on a refusal
// the next id (`<id>-s1`, `-s2`, ...: the first one whose cell was not asked yet) is tried, up to
// `spillCells` cells. When every one of them refused, the job is stored under its first id and
// waits there like any job, its pending reason saying why. A node remembers for 10 s which cells
// refused which job sizes and does not ask them again for one as large (without constraints):
// in a filling cluster each try then goes to a cell that may have room.
import type { Directory } from './directory.js'
import { NO_ROOM } from './job-submit.js'
import type { ApiReply, ApiRequest, JobSpec, JobStatus } from './job-types.js'
import type { SelfRequest } from './self-requests.js'
import type { Effect, Millis, NodeId, Resources, RpcResponse } from './types.js'

interface Forward {
  reqId: number
  req: ApiRequest
  cell: number
  tried: Set<NodeId>
  /** Part of a cluster-wide listing. */
  listing?: Listing
  /** One cell's admission for a movable submit. */
  spill?: Spill
}

/** A movable submit looking for a cell with room: the API request it answers and what it tried. */
export interface Spill {
  reqId: number
  base: string
  spec: JobSpec
  /** Cells asked so far. */
  cells: number[]
  /** The next id suffix to look at. */
  k: number
}

/** The k-th id a movable submit may take (k = 0: the id it came with). */
export function spillId(base: string, k: number): string {
  return k === 0 ? base : `${base}-s${k}`
}

/** The id a movable submit came with, from any id it may have taken (see spillId). */
export function spillBase(id: string): string {
  return id.replace(/-s\d+$/, '')
}

/** A cluster-wide listing gathering its cells' parts: the API request it answers and what came so far. */
export interface Listing {
  reqId: number
  waiting: number
  jobs: Map<string, JobStatus>
  unreachable: number[]
}

/** Cells a movable submit tries (see Spill); enough that the first refusal comes with the cluster nearly full. */
export const DEFAULT_SPILL_CELLS = 8
/** Tries that want a cell with spare room (admission.ts), before any room will do. */
const SPARE_TRIES = 2
/** How long a cell's refusal stands for jobs at least as large (see spillNext). */
const REFUSAL_MEMORY_MS = 10_000
/** Job sizes remembered per refusing cell. */
const REFUSALS_PER_CELL = 4

/** What the router needs of its node: running a request in our own cell. */
export interface RouterHost {
  /**
   * Run an API request on this node, as its API would; its reply is handed back later (in this
   * step or a later one) with `then`, to spillAnswer, ownCellListed or as the API's reply.
   */
  runHere(req: ApiRequest, then: SelfRequest, now: Millis, out: Effect[]): void
}

export class CellRouter {
  private readonly forwards = new Map<number, Forward>()
  /** Per cell, the sizes of unconstrained jobs it refused lately (see spillNext). */
  private readonly refusals = new Map<number, Array<{ at: Millis; resources: Resources }>>()

  constructor(
    private readonly dir: Directory,
    private readonly nextCorr: () => number,
    private readonly timeoutMs: number,
    private readonly host: RouterHost,
    private readonly cells: number,
    /** How many cells a movable submit may try before it waits in its own id's. */
    private readonly spillCells = DEFAULT_SPILL_CELLS,
  ) {}

  /** The cell an API request belongs to, or null when any node's cell may answer it. */
  private cellFor(req: ApiRequest): number | null {
    switch (req.op) {
      case 'submit': case 'get': case 'cancel': return this.dir.cellOf(req.id)
      case 'drain': return this.dir.cellOf(req.node)
      case 'list': return null
    }
  }

  /** Returns true when the request was taken here (forwarded, or a listing gathered across cells). */
  route(reqId: number, req: ApiRequest, now: Millis, out: Effect[]): boolean {
    if (!this.dir.enabled) return false
    if (req.op === 'list') {
      if (req.cellOnly === true) return false
      this.listAll(reqId, now, out)
      return true
    }
    if (req.op === 'submit' && req.movable === true && this.spillCells > 1) {
      this.spillNext({ reqId, base: req.id, spec: req.spec, cells: [], k: 0 }, now, out)
      return true
    }
    const cell = this.cellFor(req)
    if (cell === null || cell === this.dir.myCell) return false
    // What a submit may do is decided here: the cell it goes to only stores it.
    this.forward({ reqId, req: req.op === 'submit' ? { op: 'submit', id: req.id, spec: req.spec } : req, cell, tried: new Set() }, now, out)
    return true
  }

  /** Ask the next cell to admit a movable submit; when spillCells refused, store it in its first id's. */
  private spillNext(s: Spill, now: Millis, out: Effect[]): void {
    const most = Math.min(this.spillCells, this.cells)
    // Draws find a cell not asked yet and not known to refuse it; bounded in count.
    while (s.cells.length < most && s.k < 8 * this.spillCells) {
      const id = spillId(s.base, s.k++)
      const cell = this.dir.cellOf(id)
      if (s.cells.includes(cell) || this.refuses(cell, s.spec, now)) continue
      s.cells.push(cell)
      // The first tries want a cell that is not crowded, so cells fill evenly; the later ones any room.
      const admit = s.cells.length <= this.spareTries() ? 'spare' : 'room'
      this.send(s.reqId, { op: 'submit', id, spec: s.spec, admit }, cell, s, now, out)
      return
    }
    this.send(s.reqId, { op: 'submit', id: s.base, spec: s.spec }, this.dir.cellOf(s.base), undefined, now, out)
  }

  /** A request to a cell: run here when it is ours, else forwarded; `spill`: its answer goes there. */
  private send(reqId: number, req: ApiRequest, cell: number, spill: Spill | undefined, now: Millis, out: Effect[]): void {
    if (cell !== this.dir.myCell) {
      this.forward({ reqId, req, cell, tried: new Set(), spill }, now, out)
      return
    }
    this.host.runHere(req, spill !== undefined ? { purpose: 'spill', spill } : { purpose: 'api', reqId }, now, out)
  }

  /** A cell's answer to an admission: refused (or unreachable) tries the next cell; anything else is the answer. */
  spillAnswer(s: Spill, reply: ApiReply, now: Millis, out: Effect[]): void {
    const code = (reply.body as { error?: { code?: string } } | undefined)?.error?.code
    if (reply.status !== 409 || code !== NO_ROOM) {
      out.push({ kind: 'api-reply', reqId: s.reqId, reply })
      return
    }
    // A cell that had no room at all (not merely no spare room) is not asked again for a while.
    if (s.spec.constraints.length === 0 && s.cells.length > this.spareTries()) this.noteRefusal(s.cells[s.cells.length - 1] as number, s.spec.resources, now)
    this.spillNext(s, now, out)
  }

  /** Tries that want spare room: at least one try takes any room. */
  private spareTries(): number {
    return Math.min(SPARE_TRIES, Math.min(this.spillCells, this.cells) - 1)
  }

  /** Did `cell` lately refuse an unconstrained job no larger than this one? */
  private refuses(cell: number, spec: JobSpec, now: Millis): boolean {
    if (spec.constraints.length > 0) return false
    const list = this.refusals.get(cell)
    return list !== undefined && list.some((r) => now - r.at <= REFUSAL_MEMORY_MS &&
      r.resources.cpu <= spec.resources.cpu && r.resources.memoryMb <= spec.resources.memoryMb)
  }

  private noteRefusal(cell: number, resources: Resources, now: Millis): void {
    const kept = (this.refusals.get(cell) ?? []).filter((r) => now - r.at <= REFUSAL_MEMORY_MS &&
      !(resources.cpu <= r.resources.cpu && resources.memoryMb <= r.resources.memoryMb))
    kept.push({ at: now, resources })
    this.refusals.set(cell, kept.slice(-REFUSALS_PER_CELL))
  }

  private forward(f: Forward, now: Millis, out: Effect[]): void {
    const to = this.dir.contacts(f.cell).find((c) => !f.tried.has(c.id))
    if (to === undefined && f.spill !== undefined) {
      // A cell we cannot reach has no room for us.
      this.spillNext(f.spill, now, out)
      return
    }
    if (to === undefined) {
      this.answer(f, { status: 503, body: { error: { code: 'unavailable', message: `no node of cell ${f.cell} is reachable from here; try another node` } } }, now, out)
      return
    }
    f.tried.add(to.id)
    const corr = this.nextCorr()
    this.forwards.set(corr, f)
    out.push({ kind: 'send', to: to.id, corr, msg: { type: 'api', req: f.req }, timeoutMs: this.timeoutMs })
  }

  /** Returns true when the answer was to one of our forwards. */
  onResponse(corr: number, from: NodeId | null, msg: RpcResponse | null, now: Millis, out: Effect[]): boolean {
    const f = this.forwards.get(corr)
    if (f === undefined) return false
    this.forwards.delete(corr)
    if (msg === null || msg.type !== 'api-reply') {
      if (from !== null) this.dir.drop(from)
      this.forward(f, now, out)
      return true
    }
    this.answer(f, { status: msg.status, body: msg.body }, now, out)
    return true
  }

  private answer(f: Forward, reply: ApiReply, now: Millis, out: Effect[]): void {
    if (f.spill !== undefined) {
      this.spillAnswer(f.spill, reply, now, out)
      return
    }
    if (f.listing === undefined) {
      out.push({ kind: 'api-reply', reqId: f.reqId, reply })
      return
    }
    const l = f.listing
    if (reply.status === 200) for (const j of (reply.body as { jobs: JobStatus[] }).jobs) l.jobs.set(j.id, j)
    else l.unreachable.push(f.cell)
    this.listingPart(l, out)
  }

  private listAll(reqId: number, now: Millis, out: Effect[]): void {
    const cells = this.dir.knownCells()
    const known = new Set([...cells, this.dir.myCell])
    // Cells we know no contact in are missing from the listing: say so.
    const unreachable = Array.from({ length: this.cells }, (_, c) => c).filter((c) => !known.has(c))
    const l: Listing = { reqId, waiting: cells.length + 1, jobs: new Map(), unreachable }
    for (const cell of cells) this.forward({ reqId, req: { op: 'list', cellOnly: true }, cell, tried: new Set(), listing: l }, now, out)
    this.host.runHere({ op: 'list', cellOnly: true }, { purpose: 'listing', listing: l }, now, out)
  }

  /** Our own cell's part of a listing (it is always reachable: a failure lists nothing more). */
  ownCellListed(l: Listing, reply: ApiReply, out: Effect[]): void {
    if (reply.status === 200) for (const j of (reply.body as { jobs: JobStatus[] }).jobs) l.jobs.set(j.id, j)
    this.listingPart(l, out)
  }

  private listingPart(l: Listing, out: Effect[]): void {
    l.waiting--
    if (l.waiting > 0) return
    const jobs = [...l.jobs.values()].sort((a, b) => a.submittedAt.localeCompare(b.submittedAt) || (a.id < b.id ? -1 : 1))
    const body = l.unreachable.length === 0 ? { jobs } : { jobs, unreachableCells: l.unreachable.sort((a, b) => a - b) }
    out.push({ kind: 'api-reply', reqId: l.reqId, reply: { status: 200, body } })
  }
}
