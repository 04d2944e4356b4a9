// fastify compiles every route's request schemas with ajv when the server gets ready. An agent's
// API has a dozen schema'd routes, the job spec's the biggest, and most agents never serve most
// of them (a job is submitted to one node of the cluster): compiling them all was ~10% of an
// agent's start-up cpu (--cpu-prof: compileSchemasForValidation 65 of ~650 ms). So each route's
// validator is compiled by fastify's own compiler (@fastify/ajv-compiler, same ajv options), on
// the first request that needs it, except those of the routes a caller compiles up front with
// compileNow(): the submit's, whose first request would otherwise wait for ajv (its instance,
// ajv-formats and the job spec's validator: 60-75 ms on a quiet machine here).
import { AjvCompiler, type ValidatorFactory } from '@fastify/ajv-compiler'

type Validate = ReturnType<ReturnType<ValidatorFactory>>

/** What fastify says of the schema a validator is for. */
export interface ValidatedPart {
  method: string
  url: string
  /** body, querystring, params or headers */
  httpPart: string
}

/** A validator factory like fastify's default, whose validators compile on first use. */
export interface LazyValidators {
  /** For fastify's `schemaController.compilersFactory.buildValidator`. */
  readonly factory: ValidatorFactory
  /**
   * Compiles, now, the validators made so far whose part `which` picks, and runs each once on an
   * empty object, so that V8 compiles ajv's generated function too (it does so on a function's
   * first call); returns how many it compiled.
   */
  compileNow(which: (part: ValidatedPart) => boolean): number
}

export function lazyValidators(build: ValidatorFactory = AjvCompiler()): LazyValidators {
  const made: Array<{ part: ValidatedPart; compile(): Validate }> = []
  const factory: ValidatorFactory = (externalSchemas, options) => {
    // Even ajv's instance (with ajv-formats) is made on the first compile.
    let compile: ReturnType<ValidatorFactory> | undefined
    return ((route: Parameters<ReturnType<ValidatorFactory>>[0]) => {
      let validate: Validate | undefined
      const compiled = (): Validate => {
        compile ??= build(externalSchemas, options)
        return (validate ??= compile(route))
      }
      const lazy = function (this: unknown, data: unknown, context?: unknown): unknown {
        const v = compiled()
        const result = (v as (d: unknown, c?: unknown) => unknown).call(this, data, context)
        // fastify reads a failed validation's errors off the function it called.
        lazy.errors = v.errors
        return result
      } as ((data: unknown, context?: unknown) => unknown) & { errors?: Validate['errors']; schemaEnv?: unknown }
      // fastify hands the request as parentData only to a function with ajv's schemaEnv, so that
      // ajv can coerce a root value in place; every validator here is ajv's.
      lazy.schemaEnv = true
      const { method, url, httpPart } = route as unknown as ValidatedPart
      made.push({ part: { method, url, httpPart }, compile: compiled })
      return lazy
    }) as unknown as ReturnType<ValidatorFactory>
  }
  return {
    factory,
    compileNow(which) {
      let n = 0
      for (const v of made) {
        if (which(v.part)) {
          (v.compile() as (data: unknown) => unknown)({})
          n++
        }
      }
      return n
    },
  }
}
