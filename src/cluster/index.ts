/**
 * The cluster's front door: `createCluster` picks the in-memory backend
 * unless a Redis URL is given. The server reaches shared state only through
 * the Cluster interface this returns.
 */
import { hostname } from 'node:os'
import { randomBytes } from 'node:crypto'
import { createMemoryCluster, type MemoryHub } from './memory.js'
import { createRedisCluster, type RedisClusterOptions } from './redis.js'
import type { Cluster } from './types.js'

export type { Cluster, MessageBus, Presence, TunnelAccess, TunnelRecord, TunnelStore } from './types.js'
export { ClusterError, ClusterErrorCode } from './errors.js'
export { createMemoryCluster, createMemoryHub, MemoryHub } from './memory.js'
export { createRedisCluster, redactRedisUrl, redisClusterDefaults } from './redis.js'

export interface ClusterOptions extends Partial<Omit<RedisClusterOptions, 'url' | 'instanceId'>> {
  /** Redis to share state through; absent or empty → in-memory, one process. */
  redisUrl?: string
  /** Defaults to `{hostname}-{random}`: unique per process, readable in CLIENT LIST. */
  instanceId?: string
  /** Memory backend only: share state with other in-process instances (tests). */
  hub?: MemoryHub
}

/** A fresh instance id: the host name (Cloud Run: the instance's) plus 6 random hex digits. */
export function defaultInstanceId(): string {
  return `${hostname()}-${randomBytes(3).toString('hex')}`
}

/**
 * Cluster options from the environment: `REDIS_URL`, `ADIT_REDIS_PREFIX`,
 * `ADIT_INSTANCE_ID`. Unset or empty variables are left out.
 */
export function clusterOptionsFromEnv(env: Record<string, string | undefined> = process.env): ClusterOptions {
  const options: ClusterOptions = {}
  if (env.REDIS_URL) options.redisUrl = env.REDIS_URL
  if (env.ADIT_REDIS_PREFIX) options.keyPrefix = env.ADIT_REDIS_PREFIX
  if (env.ADIT_INSTANCE_ID) options.instanceId = env.ADIT_INSTANCE_ID
  return options
}

/**
 * @example
 * const cluster = await createCluster(clusterOptionsFromEnv())
 * cluster.kind // 'memory' unless REDIS_URL is set
 */
export async function createCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const { redisUrl, hub, ...rest } = options
  const instanceId = options.instanceId ?? defaultInstanceId()
  if (redisUrl === undefined || redisUrl === '') {
    return createMemoryCluster({ instanceId, hub, now: rest.now, onError: rest.onError })
  }
  return createRedisCluster({ ...rest, url: redisUrl, instanceId })
}
