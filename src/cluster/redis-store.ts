/**
 * TunnelStore on Redis. Each record is a hash (`record` JSON, `seen`, `owner`)
 * beside three indexes — idle sorted set, owner sets, revoked set — that the
 * Lua scripts in redis-scripts.ts keep in step atomically.
 */
import { randomBytes } from 'node:crypto'
import type { RedisClientType } from 'redis'
import type { Lifecycle } from './lifecycle.js'
import { checkId, checkRecord, decodeRecord, encodeRecord } from './record.js'
import type { RedisKeys } from './redis-keys.js'
import { EPOCH, REVOKE, TOUCH, WRITE_RECORD, runScript } from './redis-scripts.js'
import type { TunnelRecord, TunnelStore } from './types.js'

export class RedisTunnelStore implements TunnelStore {
  readonly #client: RedisClientType
  readonly #keys: RedisKeys
  readonly #life: Lifecycle

  constructor(client: RedisClientType, keys: RedisKeys, life: Lifecycle) {
    this.#client = client
    this.#keys = keys
    this.#life = life
  }

  async get(id: string): Promise<TunnelRecord | null> {
    this.#life.check()
    let fields: Array<string | null>
    try {
      fields = await this.#client.hmGet(this.#keys.tunnel(id), ['record', 'seen'])
    } catch (error) {
      throw this.#life.fail(error)
    }
    const [json, seen] = fields
    if (json == null || seen == null) return null
    return decodeRecord(json, seen)
  }

  put(record: TunnelRecord): Promise<void> {
    return this.#write('put', record).then(() => undefined)
  }

  create(record: TunnelRecord): Promise<boolean> {
    return this.#write('create', record)
  }

  async touch(id: string, at: number): Promise<void> {
    this.#life.check()
    try {
      await runScript(this.#client, TOUCH, [this.#keys.tunnel(id), this.#keys.idle], [id, String(at)])
    } catch (error) {
      throw this.#life.fail(error)
    }
  }

  async revoke(id: string): Promise<void> {
    this.#life.check()
    checkId(id)
    const keys = this.#keys
    try {
      await runScript(this.#client, REVOKE, [keys.tunnel(id), keys.idle, keys.revoked], [id, keys.ownerPrefix])
    } catch (error) {
      throw this.#life.fail(error)
    }
  }

  async isRevoked(id: string): Promise<boolean> {
    this.#life.check()
    try {
      return (await this.#client.sIsMember(this.#keys.revoked, id)) === 1
    } catch (error) {
      throw this.#life.fail(error)
    }
  }

  async idleSince(before: number, limit: number): Promise<string[]> {
    this.#life.check()
    if (limit <= 0) return []
    try {
      return await this.#client.zRangeByScore(this.#keys.idle, '-inf', `(${before}`, {
        LIMIT: { offset: 0, count: limit },
      })
    } catch (error) {
      throw this.#life.fail(error)
    }
  }

  async countByOwner(ownerKeyHash: string): Promise<number> {
    this.#life.check()
    try {
      return await this.#client.sCard(this.#keys.owner(ownerKeyHash))
    } catch (error) {
      throw this.#life.fail(error)
    }
  }

  async epoch(): Promise<string> {
    this.#life.check()
    try {
      return String(await runScript(this.#client, EPOCH, [this.#keys.epoch], [randomBytes(12).toString('base64url')]))
    } catch (error) {
      throw this.#life.fail(error)
    }
  }

  async #write(mode: 'create' | 'put', record: TunnelRecord): Promise<boolean> {
    this.#life.check()
    checkRecord(record)
    const keys = this.#keys
    const args = [mode, record.id, encodeRecord(record), String(record.lastSeenAt), record.ownerKeyHash ?? '', keys.ownerPrefix]
    try {
      const written = await runScript(this.#client, WRITE_RECORD, [keys.tunnel(record.id), keys.idle, keys.revoked], args)
      return written === 1
    } catch (error) {
      throw this.#life.fail(error)
    }
  }
}
