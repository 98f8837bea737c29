/**
 * One request or response body as the inspector keeps it: a private copy of
 * at most `limit` bytes, plus the full size that went through.
 *
 * Chunks from the agent are views into buffers the agent reuses, so every kept
 * byte is copied. They are copied into one growable buffer (doubling, capped
 * at the per-body limit) rather than a list of small Buffers: a body that
 * arrives one byte at a time must not cost a JS object per byte. Buffers come
 * from `allocUnsafeSlow`, never the shared 8 KiB pool, so a 10-byte body does
 * not pin a pool slab that the byte accounting cannot see.
 */
export class CapturedBody {
  /** Bytes that went through, kept or not. */
  size = 0
  /** Some bytes were not kept: the per-body cap or the log's total budget cut it short. */
  truncated = false
  /** The kept bytes were dropped later to make room for newer bodies. */
  evicted = false
  private buffer: Buffer | undefined
  private length = 0

  /** @param capacityLimit the per-body cap: growth never allocates past it. */
  constructor(private readonly capacityLimit: number) {}

  /** Bytes currently held (what the log's total budget counts). */
  get kept(): number {
    return this.length
  }

  /**
   * Counts `chunk` and copies its first `room` bytes (the caller works out the
   * room from the per-body cap and the total budget).
   */
  append(chunk: Buffer, room: number): void {
    this.size += chunk.length
    const take = Math.min(chunk.length, Math.max(0, room))
    if (take < chunk.length) this.truncated = true
    if (take === 0) return
    const need = this.length + take
    if (this.buffer === undefined || need > this.buffer.length) {
      const grown = Buffer.allocUnsafeSlow(this.buffer === undefined ? take : Math.max(need, Math.min(this.buffer.length * 2, this.capacityLimit)))
      if (this.buffer !== undefined) this.buffer.copy(grown, 0, 0, this.length)
      this.buffer = grown
    }
    chunk.copy(this.buffer, this.length, 0, take)
    this.length = need
  }

  /**
   * Gives back spare capacity once the body is complete, so what is held is
   * what is counted. Called once per body, never per chunk.
   */
  seal(): void {
    if (this.buffer === undefined || this.buffer.length === this.length) return
    const exact = Buffer.allocUnsafeSlow(this.length)
    this.buffer.copy(exact, 0, 0, this.length)
    this.buffer = exact
  }

  /** Drops the kept bytes (budget eviction); returns how many were freed. */
  evict(): number {
    const freed = this.length
    if (freed === 0) return 0
    this.buffer = undefined
    this.length = 0
    this.evicted = true
    return freed
  }

  /** The kept bytes, as a view valid until the next append or evict. */
  bytes(): Buffer {
    return this.buffer === undefined ? Buffer.alloc(0) : this.buffer.subarray(0, this.length)
  }

  /** Whether `bytes()` is the whole body. */
  get complete(): boolean {
    return !this.truncated && !this.evicted
  }
}
