// The file format of transcript tests (test/unit/testdata/*.txt), after etcd raft's testdata
// (cockroachdb/datadriven): blocks of `# comment` lines, one command, a `----` line, and the
// output the command printed, up to a blank line. Rendering a file with new outputs gives the
// same file when nothing changed, so a test compares text and an update rewrites it in place.

/** One command of a transcript, with the comments above it and the output it is expected to print. */
export interface TranscriptBlock {
  comments: string[]
  command: string
  expected: string[]
  /** 1-based line of the command in its file (for error messages). */
  line: number
}

/** The blocks of a transcript file; throws on a command without its `----` line. */
export function parseTranscript(text: string, file: string): TranscriptBlock[] {
  const lines = text.split('\n')
  const blocks: TranscriptBlock[] = []
  let comments: string[] = []
  let i = 0
  while (i < lines.length) {
    const line = lines[i] as string
    if (line.trim() === '') { i++; continue }
    if (line.startsWith('#')) { comments.push(line); i++; continue }
    const command = line
    const at = i + 1
    if (lines[i + 1] !== '----') throw new Error(`${file}:${at}: "${command}" must be followed by a line "----"`)
    i += 2
    const expected: string[] = []
    while (i < lines.length && (lines[i] as string).trim() !== '') expected.push(lines[i++] as string)
    blocks.push({ comments, command, expected, line: at })
    comments = []
  }
  if (comments.length > 0) throw new Error(`${file}: comments after the last command`)
  return blocks
}

/** A transcript file from its blocks, with `outputs[i]` as the output of block i. */
export function renderTranscript(blocks: readonly TranscriptBlock[], outputs: ReadonlyArray<readonly string[]>): string {
  const parts = blocks.map((b, i) => {
    const out = outputs[i] ?? []
    for (const l of out) if (l.trim() === '') throw new Error(`line ${b.line}: "${b.command}" printed a blank line, which would end its block`)
    return [...b.comments, b.command, '----', ...out].join('\n')
  })
  return `${parts.join('\n\n')}\n`
}
