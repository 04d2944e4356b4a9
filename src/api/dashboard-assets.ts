// The dashboard's files: the page shell (index.html), its stylesheet and icon as they are in
// src/api/dashboard/, and its script bundled from the TypeScript there with esbuild on first
// request (a few tens of milliseconds, once per process; no build step to forget after an edit).
// Every file is the same for every agent and cluster of one murmur version: the unauthenticated
// part of the API (see auth.ts) serves exactly these bytes and nothing about the cluster.
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

/** One file as served: its bytes, content type and a strong ETag. */
export interface Asset {
  body: Buffer
  contentType: string
  etag: string
}

/**
 * `new URL('../../x', import.meta.url)` is the repository root from src/api/ and from the bundled
 * CLI alike (bin/murmur.js writes its bundle two levels below the root for this).
 */
const SOURCE_DIR = new URL('../../src/api/dashboard/', import.meta.url)

/** The URL path of each file the page loads; `/` is the shell. */
export const ASSET_PATHS = ['/', '/ui/app.js', '/ui/app.js.map', '/ui/style.css', '/ui/icon.svg'] as const
export type AssetPath = typeof ASSET_PATHS[number]

const STATIC: Record<Exclude<AssetPath, '/ui/app.js' | '/ui/app.js.map'>, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/ui/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
  '/ui/icon.svg': { file: 'icon.svg', type: 'image/svg+xml' },
}

let loading: Promise<Map<string, Asset>> | undefined

/** Every asset by path, loaded (and the script bundled) once per process. */
export function dashboardAssets(): Promise<Map<string, Asset>> {
  loading ??= load().catch((err: unknown) => {
    // A failed build (a syntax error while editing) is tried again on the next request.
    loading = undefined
    throw err
  })
  return loading
}

async function load(): Promise<Map<string, Asset>> {
  const assets = new Map<string, Asset>()
  for (const [path, { file, type }] of Object.entries(STATIC)) {
    assets.set(path, asset(await readFile(new URL(file, SOURCE_DIR)), type))
  }
  // require, not import(): the bundled CLI runs as a vm script, and Node 20 has no import() for
  // a script compiled from a code cache (bin/murmur.js).
  const { build } = createRequire(import.meta.url)('esbuild') as typeof import('esbuild')
  const result = await build({
    entryPoints: { app: fileURLToPath(new URL('main.ts', SOURCE_DIR)) },
    // Paths only name the outputs (nothing is written); the map's URL is relative to app.js.
    outdir: '/ui', write: false, bundle: true, format: 'esm', platform: 'browser',
    // Browsers of the last few years: native modules, class fields, optional chaining, top-level await.
    target: ['chrome100', 'firefox100', 'safari16'],
    minify: true, sourcemap: 'linked', legalComments: 'none', charset: 'utf8', logLevel: 'silent',
  })
  for (const out of result.outputFiles) {
    const name = out.path.endsWith('.map') ? '/ui/app.js.map' : '/ui/app.js'
    assets.set(name, asset(Buffer.from(out.contents), name.endsWith('.map') ? 'application/json' : 'text/javascript; charset=utf-8'))
  }
  return assets
}

function asset(body: Buffer, contentType: string): Asset {
  return { body, contentType, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` }
}
