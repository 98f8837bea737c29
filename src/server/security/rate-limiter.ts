/**
 * Token buckets: `ratePerSec` tokens refill continuously up to `burst`; a
 * request takes one. No timers: a bucket is refilled when it is asked.
 * `KeyedRateLimiter` keeps one bucket per key (client IP, tunnel id) in a
 * Map used as an LRU, capped at `maxKeys`, so a flood of distinct keys
 * cannot grow memory without bound: the least recently seen bucket goes.
 */

export interface RateLimit {
  /** Tokens added per second. */
  ratePerSec: number
  /** Bucket size: requests allowed back to back. */
  burst: number
}

/** Outcome of `take`: allowed, or refused with the seconds until a token is back. */
export type TakeResult = { ok: true } | { ok: false; retryAfterSec: number }

const OK: TakeResult = { ok: true }

export class TokenBucket {
  private tokens: number
  private updatedAt: number
  private readonly limit: RateLimit

  constructor(limit: RateLimit, now: number) {
    this.limit = limit
    this.tokens = limit.burst
    this.updatedAt = now
  }

  take(now: number): TakeResult {
    const elapsed = Math.max(0, now - this.updatedAt) / 1000
    this.tokens = Math.min(this.limit.burst, this.tokens + elapsed * this.limit.ratePerSec)
    this.updatedAt = now
    if (this.tokens >= 1) {
      this.tokens -= 1
      return OK
    }
    return { ok: false, retryAfterSec: Math.max(1, Math.ceil((1 - this.tokens) / this.limit.ratePerSec)) }
  }
}

export class KeyedRateLimiter {
  private readonly buckets = new Map<string, TokenBucket>()
  private readonly limit: RateLimit
  private readonly maxKeys: number
  private readonly now: () => number
  /** Requests refused so far (for metrics and tests). */
  rejected = 0

  constructor(limit: RateLimit, options: { maxKeys: number; now?: () => number }) {
    if (!(limit.ratePerSec > 0) || !(limit.burst >= 1)) throw new RangeError('rate limit needs ratePerSec > 0 and burst ≥ 1')
    this.limit = limit
    this.maxKeys = Math.max(1, options.maxKeys)
    this.now = options.now ?? Date.now
  }

  take(key: string): TakeResult {
    const now = this.now()
    let bucket = this.buckets.get(key)
    if (bucket === undefined) {
      if (this.buckets.size >= this.maxKeys) {
        // Map iteration order is insertion order: the first key is the least recently used.
        const oldest = this.buckets.keys().next().value as string
        this.buckets.delete(oldest)
      }
      bucket = new TokenBucket(this.limit, now)
    } else {
      this.buckets.delete(key)
    }
    this.buckets.set(key, bucket)
    const result = bucket.take(now)
    if (!result.ok) this.rejected++
    return result
  }

  /** Forgets a key (a revoked tunnel). */
  delete(key: string): void {
    this.buckets.delete(key)
  }

  get size(): number {
    return this.buckets.size
  }
}
