/**
 * Received body bytes held while their destination is backed up, at a cost
 * that counts bytes, not frames. A DATA frame's payload is a view into its
 * WebSocket message, which may pin a whole socket read (up to 64 KiB); kept
 * as-is, 262,144 one-byte frames cost ~150 MiB. Small chunks are therefore
 * copied into shared 16 KiB blocks, and only chunks of 32 KiB or more are
 * kept as views (pinning at most a 64 KiB read each), so what the queue holds
 * is at most 2× its bytes plus one block (a block is sealed when full, or copied down to its size when it is
 * less than half full): with a stream's receive window as the limit on bytes,
 * one stream's worst case is about 2× its window.
 */

/** Chunks at least this long are held as views (copying them would cost more than it saves). */
export const VIEW_AT_LEAST = 32 * 1024
/** Size of the blocks small chunks are copied into. */
export const BLOCK_SIZE = 16 * 1024

export class ByteQueue {
  /** Bytes held. */
  length = 0
  private parts: Buffer[] = []
  /** The array `writeTo` swaps in while it writes (a write may push again), so a flush allocates none. */
  private spare: Buffer[] = []
  private block: Buffer | null = null
  private blockUsed = 0

  /** Holds `chunk` (copied when small: the caller may drop its view at once). */
  push(chunk: Buffer): void {
    const n = chunk.length
    if (n === 0) return
    this.length += n
    if (n >= VIEW_AT_LEAST) {
      this.seal()
      this.parts.push(chunk)
      return
    }
    if (this.block === null || this.blockUsed + n > this.block.length) {
      this.seal()
      // Unpooled: a pooled slice would pin the 8 KiB pool it came from.
      this.block = Buffer.allocUnsafeSlow(Math.max(BLOCK_SIZE, n))
      this.blockUsed = 0
    }
    chunk.copy(this.block, this.blockUsed)
    this.blockUsed += n
  }

  /** Everything held, oldest first, as few buffers as possible; the queue is empty afterwards. */
  take(): Buffer[] {
    this.seal()
    const parts = this.parts
    this.parts = []
    this.length = 0
    return parts
  }

  /**
   * Writes everything held, oldest first, and empties the queue without
   * allocating; returns what the last `write` returned (false: the
   * destination is full).
   */
  writeTo(destination: { write(chunk: Buffer): boolean }): boolean {
    this.seal()
    const parts = this.parts
    // The spare is busy only if a write re-entered writeTo: then a fresh array.
    this.parts = this.spare.length === 0 ? this.spare : []
    this.spare = parts
    this.length = 0
    let ok = true
    for (let i = 0; i < parts.length; i++) ok = destination.write(parts[i]!)
    parts.length = 0
    return ok
  }

  /** Drops everything held. */
  clear(): void {
    this.block = null
    this.parts.length = 0
    this.length = 0
  }

  /** Memory the queue's buffers pin (for tests and the stated bound): whole backing stores, the open block whole. */
  get footprint(): number {
    let total = this.block?.length ?? 0
    for (const part of this.parts) total += part.buffer.byteLength
    return total
  }

  private seal(): void {
    const block = this.block
    if (block === null) return
    this.block = null
    if (this.blockUsed * 2 >= block.length) {
      this.parts.push(block.subarray(0, this.blockUsed))
      return
    }
    const exact = Buffer.allocUnsafeSlow(this.blockUsed)
    block.copy(exact, 0, 0, this.blockUsed)
    this.parts.push(exact)
  }
}
