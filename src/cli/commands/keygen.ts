// `murmur keygen [FILE] [--force]`: a new pnet swarm key, to FILE (mode 0600) or stdout.
import { chmodSync, writeFileSync } from 'node:fs'
import { generateKey } from '@libp2p/pnet'
import type { Command } from '../command.js'
import { CliError, FlagError, oneLine, parseFlags } from '../flags.js'

const USAGE = `usage: murmur keygen [FILE] [--force]

Writes a new private-network (pnet) swarm key to FILE (mode 0600), or to stdout. Nodes started
with --swarm-key FILE only talk to nodes with the same key.

flags:
  --force    overwrite FILE if it exists
`

/** A fresh key in the `/key/swarm/psk/1.0.0/`, `/base16/`, <64 hex digits> format, newline-ended. */
export function newSwarmKey(): Uint8Array {
  let key: Uint8Array | undefined
  // generateKey writes to a Uint8Array of the exact length or to a stream; a minimal stream lets
  // us take whatever length the library's format has instead of hard-coding 95 bytes.
  const sink = { write: (chunk: Uint8Array) => { key = chunk; return true } }
  generateKey(sink as unknown as NodeJS.WriteStream)
  if (key === undefined) throw new CliError('@libp2p/pnet produced no key')
  return Buffer.concat([key, Buffer.from('\n')])
}

export const keygenCommand: Command = {
  usage: USAGE,
  async run(argv) {
    const { values, positionals } = parseFlags({
      args: argv, options: { force: { type: 'boolean' } }, allowPositionals: true,
    })
    if (positionals.length > 1) throw new FlagError(`expected at most one FILE, got ${positionals.length}`)
    const key = newSwarmKey()
    const file = positionals[0]
    if (file === undefined) {
      process.stdout.write(key)
      return 0
    }
    try {
      // 'wx' fails if the file exists: a swarm key is not something to clobber by accident.
      writeFileSync(file, key, { mode: 0o600, flag: values.force === true ? 'w' : 'wx' })
      // An overwritten file keeps its old mode; a key must not stay readable by others.
      chmodSync(file, 0o600)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new CliError(`${file} exists; use --force to overwrite it`)
      throw new CliError(`cannot write ${file}: ${oneLine(err)}`)
    }
    process.stdout.write(`wrote a new swarm key to ${file}; start nodes with --swarm-key ${file}\n`)
    return 0
  },
}
