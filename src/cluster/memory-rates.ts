/**
 * Token buckets in one process (the in-memory cluster): a Map used as an
 * LRU, capped, so a flood of distinct visitors cannot grow memory without
 * bound — the least recently seen bucket goes.
 */
import type { BucketLimit, BucketTake, RateBuckets } from './types.js'

interface Bucket {
  tokens: number
  at: number
}

const OK: BucketTake = { ok: true }

export class MemoryRateBuckets implements RateBuckets {
  private readonly buckets = new Map<string, Bucket>()

  constructor(
    private readonly now: () => number,
    private readonly maxKeys = 100_000,
  ) {}

  async take(key: string, limit: BucketLimit): Promise<BucketTake> {
    return this.takeNow(key, limit)
  }

  /** The synchronous take (the memory backend needs no round trip). */
  takeNow(key: string, limit: BucketLimit): BucketTake {
    const now = this.now()
    let bucket = this.buckets.get(key)
    if (bucket === undefined) {
      if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value as string)
      bucket = { tokens: limit.burst, at: now }
    } else this.buckets.delete(key)
    this.buckets.set(key, bucket)
    bucket.tokens = Math.min(limit.burst, bucket.tokens + (Math.max(0, now - bucket.at) / 1000) * limit.ratePerSec)
    bucket.at = now
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1
      return OK
    }
    return { ok: false, retryAfterSec: Math.max(1, Math.ceil((1 - bucket.tokens) / limit.ratePerSec)) }
  }

  get size(): number {
    return this.buckets.size
  }
}
