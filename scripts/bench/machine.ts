// What the figures were measured on: cores, CPU, Node, the date, the commit, and the load average
// when the bench started (the machine is shared; a high load explains noisy figures).
import { execFileSync } from 'node:child_process'
import { cpus, loadavg, platform, release } from 'node:os'
import type { Machine } from './report.js'

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return ''
  }
}

export function describeMachine(): Machine {
  const commit = git(['rev-parse', 'HEAD'])
  const dirty = git(['status', '--porcelain', '--untracked-files=no']) !== ''
  return {
    cores: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    platform: `${platform()} ${release()}`,
    date: new Date().toISOString(),
    commit: commit === '' ? 'unknown' : `${commit}${dirty ? ' (with uncommitted changes)' : ''}`,
    loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
  }
}
