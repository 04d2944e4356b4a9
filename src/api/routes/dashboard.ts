// GET / and GET /ui/*: the web dashboard's shell and files (see ../dashboard-assets.ts), served
// without a token (auth.ts) because a browser cannot send one when it opens a page.
import type { FastifyInstance } from 'fastify'
import { ASSET_PATHS, dashboardAssets } from '../dashboard-assets.js'
import { ApiError } from '../errors.js'

// The page runs only its own script and style. It may fetch from any http(s) origin because it
// follows the cluster to another member's API when its own agent dies, and the members' addresses
// are cluster data the unauthenticated shell must not carry; the script puts nothing it receives
// into the page as markup, so there is no injected script to send anything anywhere.
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self' http: https:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

export function dashboardRoutes(app: FastifyInstance): void {
  for (const path of ASSET_PATHS) {
    app.get(path, async (request, reply) => {
      let asset
      try {
        asset = (await dashboardAssets()).get(path)
      } catch (err) {
        throw new ApiError(500, 'dashboard_unavailable', `the dashboard could not be built: ${err instanceof Error ? err.message.split('\n', 1)[0] : String(err)}`)
      }
      if (asset === undefined) throw new ApiError(404, 'not_found', `no dashboard file ${path}`)
      reply
        .header('etag', asset.etag)
        // Revalidate every time (a 304 costs a round trip on loopback): an upgraded agent serves new files at once.
        .header('cache-control', 'no-cache')
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer')
      if (path === '/') reply.header('content-security-policy', CSP)
      if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send()
      return reply.type(asset.contentType).send(asset.body)
    })
  }
}
