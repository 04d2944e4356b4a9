#!/usr/bin/env -S node --v8-pool-size=1
// The `murmur` command. Sources are TypeScript; running them through tsx's loader hook doubles
// the time to load libp2p's module graph, and agents start often (`murmur up`, tests, 50 agents
// on one machine at once). So the CLI is bundled once with esbuild, dependencies included: Node's
// ESM loader resolving, reading and linking hundreds of node_modules files was most of an agent's
// start-up cpu (670-730 ms to ready with dependencies external, 300-320 ms bundled). The bundle
// is cached under node_modules/.murmur-<key> by the sources' paths and mtimes, and rebuilt when
// any source changes. If bundling fails for any reason, tsx runs the sources directly.
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const src = join(root, 'src')

function sourceKey() {
  const hash = createHash('sha256')
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(dir, entry.name)
      if (entry.isDirectory()) walk(p)
      else if (entry.name.endsWith('.ts')) hash.update(`${p}:${statSync(p).mtimeMs}\n`)
    }
  }
  walk(src)
  // This file's build options shape the bundle too, and so do the installed dependencies
  // (npm rewrites node_modules/.package-lock.json on every install).
  for (const p of [fileURLToPath(import.meta.url), join(root, 'node_modules', '.package-lock.json')]) {
    if (existsSync(p)) hash.update(`${p}:${statSync(p).mtimeMs}\n`)
  }
  return hash.digest('hex').slice(0, 16)
}

async function bundled() {
  // Output two levels below the root (node_modules/.murmur-<key>/), so that
  // `new URL('../../x', import.meta.url)` in the sources still points where it does from
  // src/<dir>/. Code splitting keeps each command's imports in its own chunk: `murmur nodes`
  // does not load libp2p.
  const modules = join(root, 'node_modules')
  const dir = join(modules, `.murmur-${sourceKey()}`)
  const entry = join(dir, 'main.js')
  if (!existsSync(entry)) {
    const { build } = await import('esbuild')
    // Build into a private directory and rename: concurrent starts (murmur up) never see half a build.
    const tmp = `${dir}.${process.pid}.tmp`
    rmSync(tmp, { recursive: true, force: true })
    await build({
      entryPoints: { main: join(src, 'cli', 'main.ts') }, outdir: tmp, bundle: true, splitting: true, platform: 'node',
      format: 'esm', target: 'node20', logLevel: 'silent',
      // Native addons (classic-level), the build tools, and pino (its transports start workers
      // from files next to its own) stay ordinary imports from node_modules.
      external: ['classic-level', 'esbuild', 'tsx', 'pino'],
      // Bundled CommonJS dependencies call require() for Node's built-ins, which ESM output lacks.
      banner: { js: "import { createRequire as __murmurRequire } from 'node:module'; const require = __murmurRequire(import.meta.url);" },
      // V8 keeps every module's source text in memory, as one-byte text only while it is all
      // Latin-1: one '⋅' in a dependency's comment doubled a 3 MB chunk. Minifying whitespace drops
      // comments (names and line structure go to the map); license comments go to .LEGAL.txt files.
      minifyWhitespace: true, legalComments: 'external',
      // A linked map, not an inline one (it would be more source text in memory): Node reads maps
      // only under --enable-source-maps, which finds the linked file just as well.
      sourcemap: 'linked',
    })
    try {
      renameSync(tmp, dir)
    } catch (err) {
      // Another process finished the same build first: use theirs.
      rmSync(tmp, { recursive: true, force: true })
      if (!existsSync(entry)) throw err
    }
    for (const old of readdirSync(modules)) {
      if (old.startsWith('.murmur') && join(modules, old) !== dir && !old.endsWith('.tmp')) rmSync(join(modules, old), { recursive: true, force: true })
    }
  }
  return entry
}

let entry
try {
  entry = pathToFileURL(await bundled()).href
} catch {
  const { register } = await import('tsx/esm/api')
  register()
  entry = pathToFileURL(join(src, 'cli', 'main.ts')).href
}
await import(entry)
