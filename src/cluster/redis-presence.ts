/**
 * Presence on Redis: one sorted set per tunnel, member = instanceId, score =
 * expiry (epoch ms). A sorted set rather than one PX-TTL key per holder
 * because lookup is then one key and one round trip (no SCAN over a key
 * pattern), expiry is exact at read time (ZREMRANGEBYSCORE before reading),
 * and the key's own PEXPIRE still removes it when every holder has died.
 * Scores come from each instance's clock: skew between instances shortens or
 * lengthens an entry by that skew, small against TTLs of tens of seconds.
 */
import type { RedisClientType } from 'redis'
import type { Lifecycle } from './lifecycle.js'
import { checkTtl } from './options.js'
import type { RedisKeys } from './redis-keys.js'
import { ANNOUNCE, runScript } from './redis-scripts.js'
import type { Presence } from './types.js'

export class RedisPresence implements Presence {
  readonly #client: RedisClientType
  readonly #keys: RedisKeys
  readonly #life: Lifecycle
  readonly #now: () => number

  constructor(client: RedisClientType, keys: RedisKeys, life: Lifecycle, now: () => number) {
    this.#client = client
    this.#keys = keys
    this.#life = life
    this.#now = now
  }

  async announce(tunnelId: string, instanceId: string, ttlMs: number): Promise<void> {
    this.#life.check()
    checkTtl(ttlMs)
    const now = this.#now()
    const args = [instanceId, String(now + ttlMs), String(ttlMs), String(now)]
    try {
      await runScript(this.#client, ANNOUNCE, [this.#keys.presence(tunnelId)], args)
    } catch (error) {
      throw this.#life.fail(error)
    }
  }

  async withdraw(tunnelId: string, instanceId: string): Promise<void> {
    this.#life.check()
    try {
      await this.#client.zRem(this.#keys.presence(tunnelId), instanceId)
    } catch (error) {
      throw this.#life.fail(error)
    }
  }

  /** An entry is live strictly before its expiry; expired ones are removed in the same transaction. */
  async lookup(tunnelId: string): Promise<string[]> {
    this.#life.check()
    const key = this.#keys.presence(tunnelId)
    try {
      const [, holders] = await this.#client.multi().zRemRangeByScore(key, '-inf', this.#now()).zRange(key, 0, -1).exec()
      return holders as unknown as string[]
    } catch (error) {
      throw this.#life.fail(error)
    }
  }
}
