#!/usr/bin/env node
// The `murmur` command. Sources are TypeScript; running them through tsx's loader hook doubles
// the time to load libp2p's module graph (~1.8 s instead of ~0.9 s), and agents start often
// (`murmur up`, tests). So the CLI is bundled once with esbuild (dependencies stay external),
// cached under node_modules/.murmur by the sources' paths and mtimes, and rebuilt when any source
// changes. If bundling fails for any reason, tsx runs the sources directly.
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
  // This file's build options shape the bundle too.
  hash.update(`${fileURLToPath(import.meta.url)}:${statSync(fileURLToPath(import.meta.url)).mtimeMs}\n`)
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
      // A linked map, not an inline one: V8 keeps every module's source text in memory, and an
      // inline map was 0.9 MB of it in every agent while Node reads maps only under
      // --enable-source-maps (which finds the linked file just as well).
      format: 'esm', target: 'node20', packages: 'external', sourcemap: 'linked', logLevel: 'silent',
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
