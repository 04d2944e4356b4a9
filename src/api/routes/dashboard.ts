// GET /: the web dashboard page (see ../dashboard-page.ts).
import { createHash } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import type { AgentView } from '../agent-view.js'
import { DASHBOARD_SCRIPT, DASHBOARD_STYLE, dashboardHtml } from '../dashboard-page.js'

const sha256 = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`

// The page may run its own inline script and style and talk to this origin, and nothing else.
const CSP = [
  "default-src 'none'",
  `script-src ${sha256(DASHBOARD_SCRIPT)}`,
  `style-src ${sha256(DASHBOARD_STYLE)}`,
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

export function dashboardRoutes(app: FastifyInstance, view: AgentView): void {
  const html = dashboardHtml(view.name)
  app.get('/', async (_request, reply) => reply
    .type('text/html; charset=utf-8')
    .header('content-security-policy', CSP)
    .header('cache-control', 'no-cache')
    .send(html))
}
