// The agent's log lines: JSON with the node's name by default, pino-pretty's one-line text when
// the destination is a terminal or --log-format pretty says so.
import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { createLogger } from '../../src/node/logger.js'

function sink(isTTY: boolean): { stream: PassThrough & { isTTY?: boolean }; lines: () => string[] } {
  const stream = new PassThrough() as PassThrough & { isTTY?: boolean }
  stream.isTTY = isTTY
  let text = ''
  stream.on('data', (chunk: Buffer) => { text += chunk.toString('utf8') })
  return { stream, lines: () => text.split('\n').filter((l) => l !== '') }
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

describe('createLogger', () => {
  it('writes JSON lines with the node name when the destination is no terminal', async () => {
    const out = sink(false)
    const log = createLogger({ name: 'n1', level: 'info', destination: out.stream })
    log.child({ part: 'core' }).info({ job: 'j-1', alloc: 'j-1.0.2' }, 'job j-1 running')
    log.debug('not at info')
    await settle()
    const lines = out.lines()
    expect(lines).toHaveLength(1)
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 30, node: 'n1', part: 'core', job: 'j-1', alloc: 'j-1.0.2', msg: 'job j-1 running' })
  })

  it('writes one readable line, node first, when the destination is a terminal', async () => {
    const out = sink(true)
    const log = createLogger({ name: 'n1', level: 'info', destination: out.stream })
    log.child({ part: 'exec' }).warn({ job: 'j-1', alloc: 'j-1.0.2' }, 'exited')
    await settle()
    const lines = out.lines()
    expect(lines).toHaveLength(1)
    // eslint-disable-next-line no-control-regex
    const plain = lines[0]!.replace(/\u001b\[[0-9;]*m/g, '')
    expect(plain).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: n1 exec: exited \{.*"job":"j-1".*"alloc":"j-1\.0\.2".*\}$/)
  })

  it('--log-format overrides what the terminal check would pick', async () => {
    const tty = sink(true)
    createLogger({ name: 'n1', level: 'info', format: 'json', destination: tty.stream }).info('x')
    const pipe = sink(false)
    createLogger({ name: 'n2', level: 'info', format: 'pretty', destination: pipe.stream }).info('y')
    await settle()
    expect(JSON.parse(tty.lines()[0]!)).toMatchObject({ node: 'n1', msg: 'x' })
    expect(pipe.lines()[0]).toMatch(/INFO: n2: y$/)
  })
})
