// How `murmur up` and its `murmur agent` children talk: the one stdout line an agent prints once
// it serves (CONTRACT section 2), and the env var that marks a supervised child.

/**
 * Set by `murmur up` on its children: stdin is a pipe from the supervisor, and its end means the
 * supervisor is gone (even SIGKILLed), so the node stops instead of living on as an orphan.
 */
export const SUPERVISED_ENV = 'MURMUR_SUPERVISED'

export interface ReadyInfo {
  name: string
  peer: string
  api: string
  p2p: string
}

const READY = /^murmur: ready name=(\S+) peer=(\S+) api=(\S+) p2p=(\S+)$/

export function formatReadyLine(info: ReadyInfo): string {
  return `murmur: ready name=${info.name} peer=${info.peer} api=${info.api} p2p=${info.p2p}`
}

/** The fields of a ready line, or undefined for any other line. */
export function parseReadyLine(line: string): ReadyInfo | undefined {
  const m = READY.exec(line.trim())
  if (m === null) return undefined
  const [, name = '', peer = '', api = '', p2p = ''] = m
  return { name, peer, api, p2p }
}
