// API requests across cells (see cells.ts). A job lives in cell hash(id) mod cells, a node in
// cell hash(node id) mod cells. A request for either that reaches a node of another cell goes to
// a contact of the owning cell (src/core/directory.ts) as an `api` rpc, which that node answers
// as if its own API had taken it; a contact that fails is dropped and the next one tried. A
// cluster-wide listing asks one contact per known cell for its cell's jobs and merges the lists
// with our own cell's. A forwarded request is never forwarded again.
import type { Directory } from './directory.js'
import type { ApiReply, ApiRequest, JobStatus } from './job-types.js'
import type { Effect, NodeId, RpcResponse } from './types.js'

interface Forward {
  reqId: number
  req: ApiRequest
  cell: number
  tried: Set<NodeId>
  /** Part of a cluster-wide listing. */
  listing?: Listing
}

interface Listing {
  reqId: number
  waiting: number
  jobs: Map<string, JobStatus>
  unreachable: number[]
}

export class CellRouter {
  private readonly forwards = new Map<number, Forward>()

  constructor(
    private readonly dir: Directory,
    private readonly nextCorr: () => number,
    private readonly timeoutMs: number,
    /** Run an API request on this node; its reply comes to `done` (with that step's effects), not to the API. */
    private readonly local: (req: ApiRequest, out: Effect[], done: (reply: ApiReply, out: Effect[]) => void) => void,
    private readonly cells: number,
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
  route(reqId: number, req: ApiRequest, out: Effect[]): boolean {
    if (!this.dir.enabled) return false
    if (req.op === 'list') {
      if (req.cellOnly === true) return false
      this.listAll(reqId, out)
      return true
    }
    const cell = this.cellFor(req)
    if (cell === null || cell === this.dir.myCell) return false
    this.forward({ reqId, req, cell, tried: new Set() }, out)
    return true
  }

  private forward(f: Forward, out: Effect[]): void {
    const to = this.dir.contacts(f.cell).find((c) => !f.tried.has(c.id))
    if (to === undefined) {
      this.answer(f, { status: 503, body: { error: { code: 'unavailable', message: `no node of cell ${f.cell} is reachable from here; try another node` } } }, out)
      return
    }
    f.tried.add(to.id)
    const corr = this.nextCorr()
    this.forwards.set(corr, f)
    out.push({ kind: 'send', to: to.id, corr, msg: { type: 'api', req: f.req }, timeoutMs: this.timeoutMs })
  }

  /** Returns true when the answer was to one of our forwards. */
  onResponse(corr: number, from: NodeId | null, msg: RpcResponse | null, out: Effect[]): boolean {
    const f = this.forwards.get(corr)
    if (f === undefined) return false
    this.forwards.delete(corr)
    if (msg === null || msg.type !== 'api-reply') {
      if (from !== null) this.dir.drop(from)
      this.forward(f, out)
      return true
    }
    this.answer(f, { status: msg.status, body: msg.body }, out)
    return true
  }

  private answer(f: Forward, reply: ApiReply, out: Effect[]): void {
    if (f.listing === undefined) {
      out.push({ kind: 'api-reply', reqId: f.reqId, reply })
      return
    }
    const l = f.listing
    if (reply.status === 200) for (const j of (reply.body as { jobs: JobStatus[] }).jobs) l.jobs.set(j.id, j)
    else l.unreachable.push(f.cell)
    this.listingPart(l, out)
  }

  private listAll(reqId: number, out: Effect[]): void {
    const cells = this.dir.knownCells()
    const known = new Set([...cells, this.dir.myCell])
    // Cells we know no contact in are missing from the listing: say so.
    const unreachable = Array.from({ length: this.cells }, (_, c) => c).filter((c) => !known.has(c))
    const l: Listing = { reqId, waiting: cells.length + 1, jobs: new Map(), unreachable }
    for (const cell of cells) this.forward({ reqId, req: { op: 'list', cellOnly: true }, cell, tried: new Set(), listing: l }, out)
    this.local({ op: 'list', cellOnly: true }, out, (reply, o) => {
      if (reply.status === 200) for (const j of (reply.body as { jobs: JobStatus[] }).jobs) l.jobs.set(j.id, j)
      this.listingPart(l, o)
    })
  }

  private listingPart(l: Listing, out: Effect[]): void {
    l.waiting--
    if (l.waiting > 0) return
    const jobs = [...l.jobs.values()].sort((a, b) => a.submittedAt.localeCompare(b.submittedAt) || (a.id < b.id ? -1 : 1))
    const body = l.unreachable.length === 0 ? { jobs } : { jobs, unreachableCells: l.unreachable.sort((a, b) => a - b) }
    out.push({ kind: 'api-reply', reqId: l.reqId, reply: { status: 200, body } })
  }
}
