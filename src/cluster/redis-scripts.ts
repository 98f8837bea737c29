/**
 * The Lua scripts that make multi-key updates atomic: a record, its idle
 * score and its owner index change together or not at all, and create-if-free
 * cannot race. Sent by SHA (EVALSHA) and re-sent in full only when Redis has
 * forgotten them (NOSCRIPT, e.g. after a restart).
 *
 * The owner sets are addressed from inside the scripts (the old owner is only
 * known there), which is fine on standalone Redis / Memorystore but would need
 * hash tags on Redis Cluster.
 */
import { createHash } from 'node:crypto'
import { ErrorReply, type RedisClientType } from 'redis'

export class LuaScript {
  readonly source: string
  readonly sha: string
  constructor(source: string) {
    this.source = source
    this.sha = createHash('sha1').update(source).digest('hex')
  }
}

/**
 * KEYS: tunnel, idle, revoked. ARGV: mode ('create' | 'put'), id, json, seen, owner ('' = none), ownerPrefix.
 * Returns 1 when written, 0 when `create` found the id taken or revoked.
 */
export const WRITE_RECORD = new LuaScript(`
local tunnel, idle, revoked = KEYS[1], KEYS[2], KEYS[3]
local mode, id, json, seen, owner, ownerPrefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
if mode == 'create' then
  if redis.call('EXISTS', tunnel) == 1 or redis.call('SISMEMBER', revoked, id) == 1 then return 0 end
else
  local old = redis.call('HGET', tunnel, 'owner')
  if old and old ~= owner then redis.call('SREM', ownerPrefix .. old, id) end
  redis.call('DEL', tunnel)
end
if owner ~= '' then
  redis.call('HSET', tunnel, 'record', json, 'seen', seen, 'owner', owner)
  redis.call('SADD', ownerPrefix .. owner, id)
else
  redis.call('HSET', tunnel, 'record', json, 'seen', seen)
end
redis.call('ZADD', idle, seen, id)
return 1
`)

/** KEYS: tunnel, idle. ARGV: id, at. Moves lastSeenAt forward only; unknown ids are left alone. */
export const TOUCH = new LuaScript(`
local seen = redis.call('HGET', KEYS[1], 'seen')
if not seen or tonumber(ARGV[2]) <= tonumber(seen) then return 0 end
redis.call('HSET', KEYS[1], 'seen', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
`)

/** KEYS: tunnel, idle, revoked. ARGV: id, ownerPrefix. */
export const REVOKE = new LuaScript(`
local old = redis.call('HGET', KEYS[1], 'owner')
if old then redis.call('SREM', ARGV[2] .. old, ARGV[1]) end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
return 1
`)

/** KEYS: epoch. ARGV: a fresh random value. Returns the stored epoch, setting ARGV[1] first when there is none. */
export const EPOCH = new LuaScript(`
local epoch = redis.call('GET', KEYS[1])
if epoch then return epoch end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
`)

/**
 * KEYS: presence. ARGV: instanceId, expiresAt, ttlMs, now.
 * Drops expired holders, records this one, and keeps the key itself alive at
 * least as long as its longest-lived holder (a backstop: when every instance
 * dies, the key disappears on its own).
 */
export const ANNOUNCE = new LuaScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[4])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1
`)

export type ScriptClient = Pick<RedisClientType, 'evalSha' | 'eval'>

export async function runScript(client: ScriptClient, script: LuaScript, keys: string[], args: string[]): Promise<unknown> {
  try {
    return await client.evalSha(script.sha, { keys, arguments: args })
  } catch (error) {
    if (!(error instanceof ErrorReply) || !error.message.startsWith('NOSCRIPT')) throw error
    return client.eval(script.source, { keys, arguments: args })
  }
}
