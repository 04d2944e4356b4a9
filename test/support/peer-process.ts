// A libp2p peer in its own OS process (test/fixtures/channel/peer-process.ts) answering the
// channel protocol: for tests that SIGKILL or SIGSTOP the other end of a connection.
import { spawn, type ChildProcess } from 'node:child_process'
import { resolve } from 'node:path'
import { createInterface } from 'node:readline'

export interface PeerProcess {
  child: ChildProcess
  /** Resolves once the process is gone. */
  exited: Promise<void>
  /** Its listening multiaddr, ending in /p2p/<peer id>. */
  addr: string
}

/** Starts the peer process for `protocol` and waits (30 s at most) for its ready line. */
export async function spawnPeerProcess(protocol: string): Promise<PeerProcess> {
  const fixture = resolve(import.meta.dirname, '../fixtures/channel/peer-process.ts')
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, protocol], { stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = new Promise<void>((res) => child.once('exit', () => res()))
  try {
    const addr = await new Promise<string>((res, rej) => {
      const timer = setTimeout(() => rej(new Error('peer process not ready in 30 s')), 30_000)
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (line.startsWith('ready ')) { clearTimeout(timer); res(line.slice(6)) }
      })
    })
    return { child, exited, addr }
  } catch (err) {
    child.kill('SIGKILL')
    await exited
    throw err
  }
}
