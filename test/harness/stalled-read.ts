import { createHash } from 'node:crypto'
import type { Readable } from 'node:stream'
import { setTimeout as delay } from 'node:timers/promises'
import { memoryOf, sampleRss } from './processes.js'

/** What readWithStall saw. */
export interface StalledRead {
  length: number
  sha256: string
  /** Per watched process: how far its RSS rose above its value at the moment the reader stopped, peak over the stall. */
  stallGrowth: number[]
}

/**
 * Reads `body` to its end, but stops reading once for `stallMs` after
 * `stallAfter` bytes, and reports how much each process in `pids` grew while
 * nothing was read.
 *
 * Why this and not the RSS peak over a whole transfer: a process that copies
 * 100 MiB through itself leaves its copies for the garbage collector, and how
 * many it lets pile up before collecting is V8's choice (Node 20 let ~40 MiB
 * pile up on a 100 MiB download here, Node 24 ~75 MiB, and the same on 300
 * MiB), so a peak bound either fails on a healthy tunnel or passes one that
 * buffers the body. While the reader is stalled a flow-controlled path stops
 * at its windows and allocates next to nothing; a path that buffers pulls the
 * rest of the body in and grows by it.
 */
export async function readWithStall(body: Readable, pids: number[], stallAfter: number, stallMs = 1500): Promise<StalledRead> {
  const hash = createHash('sha256')
  let length = 0
  let stallGrowth: number[] = []
  let stalled = false
  await new Promise<void>((resolve, reject) => {
    body.on('data', (chunk: Buffer) => {
      hash.update(chunk)
      length += chunk.length
      if (stalled || length < stallAfter) return
      stalled = true
      body.pause()
      const base = pids.map((pid) => memoryOf(pid))
      const peaks = pids.map((pid) => sampleRss(pid))
      delay(stallMs).then(() => {
        stallGrowth = peaks.map((peak, i) => peak.stop() - base[i]!)
        body.resume()
      }, reject)
    })
    body.once('end', resolve)
    body.once('error', reject)
  })
  return { length, sha256: hash.digest('hex'), stallGrowth }
}
