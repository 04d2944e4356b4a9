// One spec object for every job submitted with the same spec. A finished job stays in memory for
// its retention window (retention.ts), and its spec (command, env, resources, constraints,
// restart and disconnect policies: nine objects) was most of what one costs: about 400 of the
// ~1,000 bytes a finished trivial job held in an agent's heap. Jobs are mostly submitted in
// batches of one spec (a service's instances, a sweep, a benchmark), so records share it.
//
// A spec never changes after submit (job-merge.ts keeps the first one whole), and nothing in
// murmur changes a spec in place, so sharing one object is invisible but for memory. Equal means
// equal JSON text: two specs with the same fields in another order are kept apart, which costs
// memory, never correctness. The table is shared by every node of one process (the simulator
// runs thousands in one): identity of a spec object never changes a step's effects.
import type { JobSpec } from './job-types.js'

/**
 * Distinct specs remembered at most; when full, the table starts over. Records keep the specs
 * they were given either way: this bounds only the index (its keys are the specs' JSON text).
 */
export const MAX_INTERNED_SPECS = 1024

const byText = new Map<string, JobSpec>()
/** Specs that are the shared copy already: found without building their text again. */
const shared = new WeakSet<JobSpec>()

/** The shared spec equal to `spec` (`spec` itself when it is the first of its kind). */
export function internSpec(spec: JobSpec): JobSpec {
  if (shared.has(spec)) return spec
  const text = JSON.stringify(spec)
  const known = byText.get(text)
  if (known !== undefined) return known
  if (byText.size >= MAX_INTERNED_SPECS) byText.clear()
  byText.set(text, spec)
  shared.add(spec)
  return spec
}
