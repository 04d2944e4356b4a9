// Reading an allocation's log file in pieces: `murmur logs` reads from 0, `--follow` reads again
// from the size it last saw.
import { open } from 'node:fs/promises'

/** One read returns at most 1 MiB unless asked otherwise: bounds the memory a request can pin. */
export const DEFAULT_MAX_READ_BYTES = 1024 * 1024

export interface ReadLogOptions {
  /** Byte offset to read from; negative counts from the end (-1000 = the last 1000 bytes). Default 0. */
  offset?: number
  maxBytes?: number
}

export interface LogChunk {
  data: Buffer
  /** File size when read. */
  size: number
  /** Where `data` starts in the file (differs from offset when it was negative or past the end). */
  offset: number
  /** offset + data.length: the offset for the next read when following the file. */
  next: number
}

/**
 * Reads up to maxBytes from offset. An offset past the end (the file was replaced) gives no data
 * and the current size. A missing file rejects with ENOENT: the caller knows whether that is a 404.
 */
export async function readLog(path: string, opts: ReadLogOptions = {}): Promise<LogChunk> {
  const maxBytes = Math.max(0, Math.floor(opts.maxBytes ?? DEFAULT_MAX_READ_BYTES))
  const handle = await open(path, 'r')
  try {
    const size = (await handle.stat()).size
    const requested = Math.floor(opts.offset ?? 0)
    const offset = requested < 0 ? Math.max(0, size + requested) : Math.min(requested, size)
    const length = Math.min(maxBytes, size - offset)
    if (length <= 0) return { data: Buffer.alloc(0), size, offset, next: offset }
    const data = Buffer.alloc(length)
    const { bytesRead } = await handle.read(data, 0, length, offset)
    return { data: data.subarray(0, bytesRead), size, offset, next: offset + bytesRead }
  } finally {
    await handle.close()
  }
}
