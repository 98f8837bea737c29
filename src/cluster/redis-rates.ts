/**
 * Token buckets on Redis, so a per-visitor limit holds across every server
 * instance: one hash per bucket (`{p}rate:{key}`: tokens, at), refilled and
 * taken from in one Lua script on Redis's own clock (no skew between
 * instances), expiring once a full refill would have happened.
 *
 * While Redis does not answer, each instance limits with buckets of its own
 * (memory-rates.ts): a visitor over the limit is still refused, and no
 * request is refused only because Redis is down — at worst a visitor gets
 * the limit once per instance until Redis is back. (Refusing every request
 * of a limited tunnel with 503 would turn a Redis blip into an outage of
 * the very tunnels that asked for protection; letting all through would
 * drop the protection exactly when a flood may be the cause.)
 */
import type { RedisClientType } from 'redis'
import type { Lifecycle } from './lifecycle.js'
import type { RedisKeys } from './redis-keys.js'
import { ClusterError } from './errors.js'
import { MemoryRateBuckets } from './memory-rates.js'
import { LuaScript, runScript } from './redis-scripts.js'
import type { BucketLimit, BucketTake, RateBuckets } from './types.js'

/** KEYS: bucket. ARGV: ratePerSec, burst. Returns 0 when a token was taken, else the ms until one is back. */
export const TAKE_TOKEN = new LuaScript(`
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local v = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(v[1]) or burst
local at = tonumber(v[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) / 1000 * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) / rate * 1000) end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return wait
`)

const OK: BucketTake = { ok: true }

export class RedisRateBuckets implements RateBuckets {
  readonly #client: RedisClientType
  readonly #keys: RedisKeys
  readonly #life: Lifecycle
  readonly #onError: (error: unknown) => void
  /** This instance's own buckets, used only while Redis does not answer (fresh for each outage). */
  #local: MemoryRateBuckets | undefined

  /** `onError` hears once per outage that the limits went local (the cluster's error report: the server logs it). */
  constructor(client: RedisClientType, keys: RedisKeys, life: Lifecycle, onError: (error: unknown) => void = () => {}) {
    this.#client = client
    this.#keys = keys
    this.#life = life
    this.#onError = onError
  }

  async take(key: string, limit: BucketLimit): Promise<BucketTake> {
    this.#life.check()
    let wait: unknown
    try {
      wait = await runScript(this.#client, TAKE_TOKEN, [this.#keys.rate(key)], [String(limit.ratePerSec), String(limit.burst)])
    } catch (error) {
      const failure = this.#life.fail(error)
      if (this.#life.closed) throw failure
      if (this.#local === undefined) {
        this.#local = new MemoryRateBuckets(Date.now)
        this.#onError(
          new ClusterError(failure.code, 'per-visitor rate limits: Redis did not answer; limiting with this instance’s own buckets until it does', {
            cause: failure,
          }),
        )
      }
      return this.#local.takeNow(key, limit)
    }
    // Redis answers again: the next outage starts from full local buckets, not from last time's.
    this.#local = undefined
    const ms = Number(wait)
    return ms <= 0 ? OK : { ok: false, retryAfterSec: Math.max(1, Math.ceil(ms / 1000)) }
  }
}
