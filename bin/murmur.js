#!/usr/bin/env node
// The `murmur` command. Sources are TypeScript; running them through tsx's loader hook doubles
// the time to load libp2p's module graph (~1.8 s instead of ~0.9 s), and agents start often
// (`murmur up`, tests). So the CLI is bundled once with esbuild (dependencies stay external),
// cached under node_modules/.murmur by the sources' paths and mtimes, and rebuilt when any source
// changes. If bundling fails for any reason, tsx runs the sources directly.
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs'
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
  return hash.digest('hex').slice(0, 16)
}

async function bundled() {
  // Two levels below the root, so `new URL('../../x', import.meta.url)` in the sources still
  // points where it does from src/<dir>/.
  const dir = join(root, 'node_modules', '.murmur')
  const out = join(dir, `cli-${sourceKey()}.mjs`)
  if (!existsSync(out)) {
    const { build } = await import('esbuild')
    mkdirSync(dir, { recursive: true })
    // Build to a private name and rename: concurrent starts (murmur up) never see half a file.
    const tmp = `${out}.${process.pid}.tmp`
    await build({
      entryPoints: [join(src, 'cli', 'main.ts')], outfile: tmp, bundle: true, platform: 'node', format: 'esm',
      target: 'node20', packages: 'external', sourcemap: 'inline', logLevel: 'silent',
    })
    renameSync(tmp, out)
    for (const old of readdirSync(dir)) {
      if (old.startsWith('cli-') && join(dir, old) !== out && !old.endsWith('.tmp')) rmSync(join(dir, old), { force: true })
    }
  }
  return out
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
