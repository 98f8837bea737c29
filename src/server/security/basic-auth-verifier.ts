import { createHmac, randomBytes } from 'node:crypto'
import { verifyCredentials } from './basic-auth.js'
import { clientKeyOf, FailureThrottle, type FailureThrottleOptions } from './failure-throttle.js'
import { HashQueue, type HashQueueOptions } from './hash-queue.js'

/**
 * Checks basic-auth credentials against a tunnel's stored scrypt hash with
 * the cost bounded, for the whole server (one instance, shared by every
 * tunnel's gate):
 *
 * 1. credentials verified before are remembered (an HMAC under a per-process
 *    key, never the password nor a fast hash of it): a signed-in visitor pays
 *    no hash per request; the same credentials checked concurrently share one hash;
 * 2. failures are throttled per client address and tunnel (exponential
 *    back-off, `429`): one address gets `freeFailures` hashes, then one per back-off;
 * 3. hashes run through a small fair queue (`503` when it is full), so many
 *    addresses at once still cannot take the thread pool or delay another
 *    tunnel's first visitor by more than a hash or two.
 */

export interface BasicAuthVerifierOptions {
  throttle: Partial<FailureThrottleOptions>
  queue: Partial<HashQueueOptions>
  /** Verified credentials remembered at most (LRU). */
  cacheSize: number
  /** How long a verified credential is remembered (ms). */
  cacheTtlMs: number
  now: () => number
}

export const basicAuthVerifierDefaults: BasicAuthVerifierOptions = {
  throttle: {},
  queue: {},
  cacheSize: 10_000,
  cacheTtlMs: 5 * 60_000,
  now: Date.now,
}

export type BasicVerdict = { kind: 'ok' } | { kind: 'wrong' } | { kind: 'throttled'; retryAfterSec: number } | { kind: 'busy'; retryAfterSec: number }

const OK: BasicVerdict = { kind: 'ok' }
const WRONG: BasicVerdict = { kind: 'wrong' }

export class BasicAuthVerifier {
  readonly throttle: FailureThrottle
  readonly queue: HashQueue
  private readonly options: BasicAuthVerifierOptions
  private readonly cacheKey = randomBytes(32)
  private readonly verified = new Map<string, number>()
  private readonly inFlight = new Map<string, Promise<boolean>>()
  /** Checks answered from the cache (tests, metrics). */
  cacheHits = 0

  constructor(input: Partial<BasicAuthVerifierOptions> = {}) {
    this.options = { ...basicAuthVerifierDefaults, ...input }
    if (!Number.isInteger(this.options.cacheSize) || this.options.cacheSize < 0) throw new RangeError('basicAuth.cacheSize must be an integer ≥ 0')
    if (!Number.isInteger(this.options.cacheTtlMs) || this.options.cacheTtlMs < 0) throw new RangeError('basicAuth.cacheTtlMs must be an integer ≥ 0')
    this.throttle = new FailureThrottle({ now: this.options.now, ...this.options.throttle })
    this.queue = new HashQueue(this.options.queue)
  }

  /** Scrypt hashes run so far. */
  get hashes(): number {
    return this.queue.started
  }

  /** `credentials` (`user:password`) against `storedHash` of `tunnelId`, presented from `clientIp`. */
  async verify(tunnelId: string, clientIp: string, credentials: string, storedHash: string): Promise<BasicVerdict> {
    const key = createHmac('sha256', this.cacheKey).update(storedHash).update('\0').update(credentials).digest('base64url')
    const now = this.options.now()
    const until = this.verified.get(key)
    if (until !== undefined) {
      if (until >= now) {
        this.cacheHits++
        return OK
      }
      this.verified.delete(key)
    }
    const shared = this.inFlight.get(key)
    if (shared !== undefined) return (await shared) ? OK : WRONG
    const throttleKey = `${clientKeyOf(clientIp)} ${tunnelId}`
    const attempt = this.throttle.begin(throttleKey)
    if (!attempt.ok) return { kind: 'throttled', retryAfterSec: attempt.retryAfterSec }
    const job = this.queue.run(tunnelId, () => verifyCredentials(credentials, storedHash))
    if (job === null) {
      this.throttle.cancel(throttleKey)
      return { kind: 'busy', retryAfterSec: 1 }
    }
    const checked = job.catch(() => false)
    this.inFlight.set(key, checked)
    let good: boolean
    try {
      good = await checked
    } finally {
      this.inFlight.delete(key)
    }
    this.throttle.end(throttleKey, good)
    if (!good) return WRONG
    if (this.options.cacheSize > 0 && this.options.cacheTtlMs > 0) {
      if (this.verified.size >= this.options.cacheSize) this.verified.delete(this.verified.keys().next().value as string)
      this.verified.set(key, this.options.now() + this.options.cacheTtlMs)
    }
    return OK
  }
}
