// The agent's log lines: JSON with the node's name by default, pino-pretty's one-line text when
// the destination is a terminal or --log-format pretty says so.
import { spawn } from 'node:child_process'
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

/** Runs `body` in a child process with a stderr logger (the agent's default), and reads its stderr. */
function child(body: string): { lines: () => string[]; exited: Promise<number | null>; kill: () => void } {
  const script = `import { createLogger } from ${JSON.stringify(new URL('../../src/node/logger.ts', import.meta.url).pathname)}\n` +
    `const log = createLogger({ name: 'n1', level: 'info', format: 'json' })\n${body}`
  const proc = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'pipe'] })
  let text = ''
  proc.stderr.on('data', (chunk: Buffer) => { text += chunk.toString('utf8') })
  return { lines: () => text.split('\n').filter((l) => l !== ''), exited: new Promise((resolve) => proc.once('close', resolve)), kill: () => proc.kill('SIGKILL') }
}

describe('createLogger on stderr (the agent\'s default)', () => {
  it('writes waiting lines within the flush time, without an exit', async () => {
    // The process stays until the parent has read the line; it is never ended by a flush on exit.
    const c = child(`log.info('one'); log.info('two'); setTimeout(() => {}, 20_000)`)
    try {
      const deadline = Date.now() + 10_000
      while (c.lines().length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
      expect(c.lines().map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['one', 'two'])
    } finally {
      c.kill()
      await c.exited
    }
  }, 15_000)

  it('writes the lines still waiting when the process exits', async () => {
    const c = child(`for (let i = 0; i < 3; i++) log.info('line ' + i); process.exit(3)`)
    expect(await c.exited).toBe(3)
    expect(c.lines().map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['line 0', 'line 1', 'line 2'])
  }, 15_000)
})
