// Transcript tests of the job protocol's hot path (test/unit/testdata/*.txt, in the style of etcd
// raft's testdata): each file is a script of commands for real cores on the simulated network
// (test/support/transcript-driver.ts) with the output each command printed, every protocol
// message among it. A file whose output changed fails with the diff; to accept the change, run
//   UPDATE_TRANSCRIPTS=1 npx vitest run test/unit/transcripts.test.ts
// and read the diff of the files before committing them: they document the protocol.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseDuration, TranscriptDriver as Driver } from '../support/transcript-driver.js'
import { parseTranscript, renderTranscript } from '../support/transcript-format.js'

const DIR = join(import.meta.dirname, 'testdata')
const UPDATE = process.env.UPDATE_TRANSCRIPTS === '1'

/** A transcript run afresh: the file as it would be with the outputs printed now. */
function replay(file: string, text: string): string {
  const blocks = parseTranscript(text, file)
  const driver = new Driver()
  const outputs = blocks.map((b) => {
    try {
      return driver.exec(b.command)
    } catch (err) {
      // An error is output too: a script may show one, and a broken step shows where it broke.
      return [`error: ${err instanceof Error ? err.message : String(err)}`]
    }
  })
  return renderTranscript(blocks, outputs)
}

describe('transcripts', () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.txt')).sort()
  it('has transcripts to run', () => expect(files.length).toBeGreaterThan(0))
  for (const f of files) {
    it(f, () => {
      const path = join(DIR, f)
      const text = readFileSync(path, 'utf8')
      const now = replay(f, text)
      if (UPDATE) {
        if (now !== text) writeFileSync(path, now)
        return
      }
      expect(now, `${f} printed something else; if that is intended, rerun with UPDATE_TRANSCRIPTS=1 and review the diff`).toBe(text)
      // Same script, same output: the run is deterministic.
      expect(replay(f, text)).toBe(now)
    })
  }
})

describe('the transcript format and driver', () => {
  const file = '# a comment\n# two lines\nrun 1s\n----\n\nprint messages\n----\n(none)\n'

  it('renders a file as it was parsed', () => {
    const blocks = parseTranscript(file, 'f.txt')
    expect(blocks.map((b) => [b.comments, b.command, b.expected, b.line])).toEqual([
      [['# a comment', '# two lines'], 'run 1s', [], 3],
      [[], 'print messages', ['(none)'], 6],
    ])
    expect(renderTranscript(blocks, blocks.map((b) => b.expected))).toBe(file)
  })

  it('refuses a command without its ---- line, and output with a blank line', () => {
    expect(() => parseTranscript('run 1s\nprint messages\n', 'f.txt')).toThrow('f.txt:1: "run 1s" must be followed by a line "----"')
    expect(() => renderTranscript(parseTranscript(file, 'f.txt'), [['a', ''], []])).toThrow(/blank line/)
  })

  it('says what is wrong with a command', () => {
    const d = new Driver()
    expect(() => d.exec('jump n1')).toThrow('unknown command "jump"')
    expect(() => d.exec('submit job=j1')).toThrow('missing via=')
    expect(() => d.exec('run soon')).toThrow('"soon" is not a duration')
    expect(() => d.exec('print nodes x')).toThrow(/print nodes\?/)
    expect(parseDuration('250ms') + parseDuration('2s') + parseDuration('1m')).toBe(62_250)
  })
})
