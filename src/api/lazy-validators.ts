// fastify compiles every route's request schemas with ajv when the server gets ready. An agent's
// API has a dozen schema'd routes, the job spec's the biggest, and most agents never serve most
// of them (a job is submitted to one node of the cluster): compiling them all was ~10% of an
// agent's start-up cpu (--cpu-prof: compileSchemasForValidation 65 of ~650 ms). So each route's
// validator is compiled by fastify's own compiler (@fastify/ajv-compiler, same ajv options), on
// the first request that needs it.
import { AjvCompiler, type ValidatorFactory } from '@fastify/ajv-compiler'

type Validate = ReturnType<ReturnType<ValidatorFactory>>

/** A validator factory like fastify's default, whose validators compile on first use. */
export function lazyValidators(build: ValidatorFactory = AjvCompiler()): ValidatorFactory {
  return (externalSchemas, options) => {
    // Even ajv's instance (with ajv-formats) is made on the first compile.
    let compile: ReturnType<ValidatorFactory> | undefined
    return ((route: Parameters<ReturnType<ValidatorFactory>>[0]) => {
      let validate: Validate | undefined
      const lazy = function (this: unknown, data: unknown, context?: unknown): unknown {
        compile ??= build(externalSchemas, options)
        validate ??= compile(route)
        const result = (validate as (d: unknown, c?: unknown) => unknown).call(this, data, context)
        // fastify reads a failed validation's errors off the function it called.
        lazy.errors = validate.errors
        return result
      } as ((data: unknown, context?: unknown) => unknown) & { errors?: Validate['errors']; schemaEnv?: unknown }
      // fastify hands the request as parentData only to a function with ajv's schemaEnv, so that
      // ajv can coerce a root value in place; every validator here is ajv's.
      lazy.schemaEnv = true
      return lazy
    }) as unknown as ReturnType<ValidatorFactory>
  }
}
