// Route validators compile on their route's first request, with fastify's own compiler, and then
// validate (and coerce) exactly as the eagerly compiled ones did.
import { AjvCompiler, type ValidatorFactory } from '@fastify/ajv-compiler'
import Fastify, { type FastifyInstance } from 'fastify'
import { describe, expect, it } from 'vitest'
import { lazyValidators } from '../../src/api/lazy-validators.js'

function countingCompiler(): { factory: ValidatorFactory; compiled: string[] } {
  const compiled: string[] = []
  const real = AjvCompiler()
  const factory: ValidatorFactory = (externalSchemas, options) => {
    const compile = real(externalSchemas, options)
    return ((route: { url: string; httpPart: string }) => {
      compiled.push(`${route.url} ${route.httpPart}`)
      return (compile as unknown as (r: unknown) => unknown)(route)
    }) as unknown as ReturnType<ValidatorFactory>
  }
  return { factory, compiled }
}

/** An app whose request schemas go through `buildValidator`: a body on POST /things, a query on GET /count. */
function twoRoutes(buildValidator: ValidatorFactory): FastifyInstance {
  const app = Fastify({
    ajv: { customOptions: { allErrors: true, removeAdditional: false } },
    schemaController: { compilersFactory: { buildValidator } },
  })
  app.post('/things', {
    schema: { body: { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'], additionalProperties: false } },
  }, async (request) => request.body)
  app.get('/count', {
    schema: { querystring: { type: 'object', properties: { limit: { type: 'integer' } } } },
  }, async (request) => request.query)
  return app
}

describe('lazy route validators', () => {
  it('compile on the first request of their route, and validate and coerce as ajv does', async () => {
    const { factory, compiled } = countingCompiler()
    const app = twoRoutes(lazyValidators(factory).factory)
    try {
      await app.ready()
      expect(compiled).toEqual([])

      const bad = await app.inject({ method: 'POST', url: '/things', payload: { n: 'x', extra: 1 } })
      expect(bad.statusCode).toBe(400)
      expect(bad.json().message).toContain('body/n must be integer')
      expect(bad.json().message).toContain('must NOT have additional properties')
      const good = await app.inject({ method: 'POST', url: '/things', payload: { n: 3 } })
      expect(good.json()).toEqual({ n: 3 })
      expect(compiled).toEqual(['/things body'])

      const coerced = await app.inject({ method: 'GET', url: '/count?limit=5' })
      expect(coerced.json()).toEqual({ limit: 5 })
      expect(compiled).toEqual(['/things body', '/count querystring'])
    } finally {
      await app.close()
    }
  })

  it('compileNow compiles the picked validators at once, and each still only once', async () => {
    const { factory, compiled } = countingCompiler()
    const validators = lazyValidators(factory)
    const app = twoRoutes(validators.factory)
    try {
      await app.ready()
      expect(validators.compileNow((part) => part.method === 'POST' && part.url === '/things')).toBe(1)
      expect(compiled).toEqual(['/things body'])
      expect((await app.inject({ method: 'POST', url: '/things', payload: { n: 3 } })).json()).toEqual({ n: 3 })
      expect((await app.inject({ method: 'POST', url: '/things', payload: {} })).statusCode).toBe(400)
      expect(compiled).toEqual(['/things body'])
    } finally {
      await app.close()
    }
  })
})
