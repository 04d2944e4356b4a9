#!/usr/bin/env -S node --v8-pool-size=1
// The `murmur` command. Sources are TypeScript; running them through tsx's loader hook doubles
// the time to load libp2p's module graph, and agents start often (`murmur up`, tests, 50 agents
// on one machine at once). So the CLI is bundled once with esbuild, dependencies included: Node's
// ESM loader resolving, reading and linking hundreds of node_modules files was most of an agent's
// start-up cpu (670-730 ms to ready with dependencies external, 300-320 ms bundled). The bundle
// is cached under node_modules/.murmur-<key> by the sources' paths and mtimes, and rebuilt when
// any source changes. If bundling fails for any reason, tsx runs the sources directly.
//
// The bundle is one CommonJS script run through vm.Script, not an ES module, because only a
// script can use a V8 code cache on Node 20: the first agent to get ready writes the bytecode of
// every function compiled so far next to the bundle (see src/cli/code-cache.ts), and later
// processes start from it instead of parsing and compiling 2.7 MB of JavaScript again.
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import vm from 'node:vm'

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

/**
 * classic-level's JavaScript (and abstract-level's below it) is bundled, so that the code cache
 * covers it too; only its binding.js, `require('node-gyp-build')(__dirname)`, stays a file of
 * its own, required by absolute path, since __dirname must be the package's directory there.
 */
const nativeAddonsInPlace = {
  name: 'native-addons-in-place',
  setup(build) {
    build.onResolve({ filter: /^\.\/binding(\.js)?$/ }, (args) =>
      args.importer.includes(`${join('node_modules', 'classic-level')}${'/'}`) ? { path: join(args.resolveDir, 'binding.js'), external: true } : undefined)
  },
}

async function bundled() {
  // Output two levels below the root (node_modules/.murmur-<key>/), so that
  // `new URL('../../x', import.meta.url)` in the sources still points where it does from
  // src/<dir>/. One file without code splitting (a script has no imports): a command that needs
  // no libp2p (`murmur nodes`) evaluates none of it, as each lazily imported module is wrapped in
  // a function, and the code cache spares it most of the parsing.
  const modules = join(root, 'node_modules')
  const dir = join(modules, `.murmur-${sourceKey()}`)
  const entry = join(dir, 'main.cjs')
  if (!existsSync(entry)) {
    const { build } = await import('esbuild')
    // Build into a private directory and rename: concurrent starts (murmur up) never see half a build.
    const tmp = `${dir}.${process.pid}.tmp`
    rmSync(tmp, { recursive: true, force: true })
    const result = await build({
      entryPoints: { main: join(src, 'cli', 'main.ts') }, outdir: tmp, outExtension: { '.js': '.cjs' }, bundle: true, platform: 'node',
      format: 'cjs', target: 'node20', logLevel: 'silent',
      // The build tools stay ordinary imports from node_modules, and so does classic-level's
      // native addon, which node-gyp-build finds next to the file that asks for it (see below).
      // pino is bundled: only its transports (worker threads started from its own files) need
      // its directory, and murmur's logger uses none.
      external: ['esbuild', 'tsx'],
      plugins: [nativeAddonsInPlace],
      // CommonJS has no import.meta: the sources' `import.meta.url` becomes the bundle's own URL.
      define: { 'import.meta.url': '__murmurImportMetaUrl' },
      banner: { js: "var __murmurImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
      // V8 keeps every module's source text in memory, as one-byte text only while it is all
      // Latin-1: one '⋅' in a dependency's comment doubled a 3 MB chunk. Minifying whitespace drops
      // comments (names and line structure go to the map); license comments go to .LEGAL.txt files.
      minifyWhitespace: true, legalComments: 'external',
      // A linked map, not an inline one (it would be more source text in memory): Node reads maps
      // only under --enable-source-maps, which finds the linked file just as well.
      sourcemap: 'linked', metafile: true,
    })
    // A script compiled from a code cache cannot import() on Node 20 (no callback survives the
    // cache): a source that loads an unbundled module with import() runs under tsx instead.
    for (const out of Object.values(result.metafile.outputs)) {
      const dynamic = out.imports.filter((i) => i.kind === 'dynamic-import' && i.external)
      if (dynamic.length > 0) throw new Error(`import() of ${dynamic.map((i) => i.path).join(', ')} in the bundle`)
    }
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

/**
 * Runs the bundle as Node runs a CommonJS module, but compiled through vm.Script with the code
 * cache beside it. When there is no cache yet, or V8 rejected it (another Node version or V8
 * flags), the script's saver is left on globalThis for the agent to call once it is ready.
 */
function run(file) {
  const cacheFile = `${file}.v8-cache`
  let cachedData
  try {
    cachedData = readFileSync(cacheFile)
  } catch {
    cachedData = undefined
  }
  // The wrapper sits on the bundle's first line, so stack traces keep the bundle's line numbers.
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${readFileSync(file, 'utf8')}\n})`, { filename: file, cachedData })
  if (cachedData === undefined || script.cachedDataRejected) {
    globalThis[Symbol.for('murmur.saveCodeCache')] = () => {
      // Written once: many agents starting together from no cache would otherwise each write it.
      if (!script.cachedDataRejected && existsSync(cacheFile)) return
      const tmp = `${cacheFile}.${process.pid}.tmp`
      writeFileSync(tmp, script.createCachedData())
      renameSync(tmp, cacheFile)
    }
  }
  const module = { exports: {} }
  script.runInThisContext()(module.exports, createRequire(file), module, file, dirname(file))
}

let entry
try {
  entry = await bundled()
} catch {
  const { register } = await import('tsx/esm/api')
  register()
  await import(pathToFileURL(join(src, 'cli', 'main.ts')).href)
}
if (entry !== undefined) run(entry)
