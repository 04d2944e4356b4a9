// The dashboard's DOM-free parts: the event-stream parser, the readers that make the page ignore
// what it does not know, how events read in the feed, and the job spec built from the form.
import { describe, expect, it } from 'vitest'
import { describeEvent, stateChangeWords } from '../../src/api/dashboard/describe-event.js'
import { EventStreamParser, type StreamEvent } from '../../src/api/dashboard/event-stream.js'
import { buildSpec } from '../../src/api/dashboard/job-spec.js'
import { readApiError, readEvent, readJobs, readNodes } from '../../src/api/dashboard/wire.js'

const NOW = '2026-12-06T12:00:00.000Z'

describe('EventStreamParser', () => {
  it('parses events split anywhere across chunks, with CRLF, comments and multi-line data', () => {
    const events: StreamEvent[] = []
    const parser = new EventStreamParser((e) => events.push(e))
    const text = 'retry: 2000\n: connected\n\nevent: node\ndata: {"a":1}\n\n: heartbeat\n\r\nevent: job\r\ndata: line1\r\ndata:line2\r\n\r\ndata: plain\n\n'
    for (let i = 0; i < text.length; i += 3) parser.push(text.slice(i, i + 3))
    expect(events).toEqual([
      { type: 'node', data: '{"a":1}' },
      { type: 'job', data: 'line1\nline2' },
      { type: 'message', data: 'plain' },
    ])
  })

  it('holds an unfinished event until its blank line comes', () => {
    const events: StreamEvent[] = []
    const parser = new EventStreamParser((e) => events.push(e))
    parser.push('event: node\ndata: {}\n')
    expect(events).toEqual([])
    parser.push('\n')
    expect(events).toHaveLength(1)
  })
})

describe('wire readers', () => {
  it('keep what the page uses, default what is missing, and drop entries without an id', () => {
    const [n] = readNodes({ nodes: [{ id: 'p1', name: 'n1', state: 'dead', extra: { new: true }, stateChanges: [{ at: NOW, from: 'suspect', to: 'dead', reason: 'claimed by n2' }] }, { name: 'no id' }, 'junk'] })
    expect(n).toEqual({
      id: 'p1', name: 'n1', state: 'dead', api: '', total: { cpu: 0, memoryMb: 0 }, free: { cpu: 0, memoryMb: 0 },
      labels: {}, allocations: 0, lastSeenMs: 0, stateChanges: [{ at: NOW, from: 'suspect', to: 'dead', reason: 'claimed by n2' }],
    })
    expect(readNodes({ nodes: 'not a list' })).toEqual([])
    const [j] = readJobs({ jobs: [{ id: 'j-1', state: 'running', spec: { name: 'x', command: ['sh', 7, '-c'], count: 2 }, allocations: [{ index: 1, attempt: 2, nodeName: 'n3', state: 'running', exitCode: 'no' }] }] })
    expect(j).toMatchObject({ id: 'j-1', name: 'x', type: 'batch', command: ['sh', '-c'], count: 2, duplicates: [], storedOn: [] })
    expect(j!.allocations[0]).toEqual({ index: 1, attempt: 2, nodeId: '', nodeName: 'n3', state: 'running', exitCode: null, startedAt: null, finishedAt: null })
  })

  it('ignore event types the page does not show, and take `at` from the event when it has one', () => {
    expect(readEvent({ type: 'capacity', node: 'x' }, NOW)).toBeUndefined()
    expect(readEvent('nope', NOW)).toBeUndefined()
    expect(readEvent({ type: 'job', job: 'j-1', name: 'x', state: 'running', future: 1 }, NOW)).toEqual({ type: 'job', at: NOW, job: 'j-1', name: 'x', state: 'running' })
    expect(readEvent({ type: 'node', node: 'p', at: 'then' }, NOW)).toMatchObject({ at: 'then', name: 'p' })
  })

  it('find the API error message, and only in an error body', () => {
    expect(readApiError({ error: { code: 'bad_request', message: 'body/count must be >= 1' } })).toEqual({ code: 'bad_request', message: 'body/count must be >= 1' })
    expect(readApiError({ id: 'j-1' })).toBeUndefined()
  })
})

describe('describeEvent', () => {
  const job = { type: 'job' as const, at: NOW, job: 'j-1', name: 'web', state: 'running' }
  it.each([
    [{ type: 'node' as const, at: NOW, node: 'p', name: 'n3', from: 'suspect', to: 'dead', reason: 'claimed by n1' }, 'node-dead', 'n3 is dead: declared dead by n1 (not refuted in time)'],
    [{ type: 'node' as const, at: NOW, node: 'p', name: 'n3', from: 'unknown', to: 'alive', reason: 'joined' }, 'node-joined', 'n3 joined'],
    [{ ...job, index: 0, attempt: 1, node: 'n3', allocState: 'lost', reason: 'node n3 is dead' }, 'lost', 'web (j-1) #0 lost on n3 (node n3 is dead)'],
    [{ ...job, index: 0, attempt: 2, node: 'n2', allocState: 'claimed' }, 'replaced', 'web (j-1) #0 placed again on n2, attempt 2'],
    [{ ...job, index: 1, attempt: 1, node: 'n2', allocState: 'claimed' }, 'placed', 'web (j-1) #1 placed on n2'],
    [{ ...job, reason: 'stopped 1 duplicate run(s) on n4' }, 'duplicates', 'web (j-1): stopped 1 duplicate run(s) on n4'],
  ])('%# reads as %s', (event, kind, text) => {
    expect(describeEvent(event)).toEqual({ kind, text })
  })

  it('words unknown reasons as they come', () => {
    expect(stateChangeWords('dead', 'something new')).toBe('dead (something new)')
  })
})

describe('buildSpec', () => {
  const fields = { name: '', cpu: '', mem: '', count: '', type: 'batch', constraints: '' }
  it('runs the command with sh -c, or split on spaces', () => {
    expect(buildSpec('echo $HOME', true, fields)).toEqual({ command: ['sh', '-c', 'echo $HOME'], type: 'batch' })
    expect(buildSpec('sleep  5', false, fields)).toEqual({ command: ['sleep', '5'], type: 'batch' })
  })

  it('passes numbers through (a non-number as null, for the API to name) and parses constraints', () => {
    const spec = buildSpec('x', true, { ...fields, cpu: 'lots', mem: '128', count: '3', constraints: 'zone = a\ndisk in ssd,nvme; tier!=gold\nzone not_in c' })
    expect(JSON.parse(JSON.stringify(spec))).toEqual({
      command: ['sh', '-c', 'x'], type: 'batch', count: 3, resources: { cpu: null, memoryMb: 128 },
      constraints: [
        { label: 'zone', op: '=', value: 'a' }, { label: 'disk', op: 'in', value: 'ssd,nvme' },
        { label: 'tier', op: '!=', value: 'gold' }, { label: 'zone', op: 'not_in', value: 'c' },
      ],
    })
  })

  it('refuses what cannot become JSON: no command, a constraint without an operator', () => {
    expect(() => buildSpec('', true, fields)).toThrow(/^command: say what to run$/)
    expect(() => buildSpec('x', true, { ...fields, constraints: 'zone a' })).toThrow(/^constraint 1 \('zone a'\): write label = value/)
  })
})
