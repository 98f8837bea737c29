/**
 * Where the Redis backend keeps things (docs/cluster.md has the same table).
 * Every key starts with the configured prefix, so several deployments — or
 * test runs — can share one Redis and be cleaned up by prefix.
 *
 *   {p}tunnel:{id}         hash: record (JSON, no secret), seen (lastSeenAt), owner
 *   {p}idle                sorted set: id scored by lastSeenAt (idle expiry)
 *   {p}revoked             set: revoked ids (permanent: secrets derive from ids)
 *   {p}owner:{keyHash}     set: ids registered with that API key (per-key caps)
 *   {p}presence:{id}       sorted set: instanceId scored by expiry (epoch ms)
 *   {p}bus:{instanceId}    pub/sub channel: binary messages to one instance
 *   {p}rate:{key}          hash: tokens, at — one token bucket (per-visitor limits), expires when full
 *   {p}epoch               string: random, set when the first instance found it missing (store epoch)
 */
export class RedisKeys {
  readonly prefix: string
  readonly idle: string
  readonly revoked: string
  /** Scripts append the owner hash themselves (the old owner is only known inside Redis). */
  readonly ownerPrefix: string
  /** Names the store's contents: a Redis that restarted empty has a new one (TunnelStore.epoch). */
  readonly epoch: string

  constructor(prefix: string) {
    this.prefix = prefix
    this.idle = `${prefix}idle`
    this.revoked = `${prefix}revoked`
    this.ownerPrefix = `${prefix}owner:`
    this.epoch = `${prefix}epoch`
  }

  tunnel(id: string): string {
    return `${this.prefix}tunnel:${id}`
  }

  owner(keyHash: string): string {
    return `${this.ownerPrefix}${keyHash}`
  }

  presence(tunnelId: string): string {
    return `${this.prefix}presence:${tunnelId}`
  }

  rate(key: string): string {
    return `${this.prefix}rate:${key}`
  }

  bus(instanceId: string): string {
    return `${this.prefix}bus:${instanceId}`
  }
}
