/**
 * The cluster's front door: `createCluster` picks Redis when a Redis URL is
 * given, else the store asked for: `sqlite` (a file in `dataDir`, what
 * `adit server` uses by default) or `memory` (the library's default). The
 * server reaches shared state only through the Cluster interface this returns.
 */
import { hostname } from 'node:os'
import { randomBytes } from 'node:crypto'
import { createMemoryCluster, type MemoryHub } from './memory.js'
import { createRedisCluster, type RedisClusterOptions } from './redis.js'
import { createSqliteCluster } from './sqlite.js'
import type { SqliteDriverName } from './sqlite-driver.js'
import type { Cluster } from './types.js'

export type { Cluster, MessageBus, Presence, TunnelAccess, TunnelRecord, TunnelStore } from './types.js'
export { ClusterError, ClusterErrorCode } from './errors.js'
export { createMemoryCluster, createMemoryHub, MemoryHub } from './memory.js'
export { createRedisCluster, redactRedisUrl, redisClusterDefaults } from './redis.js'
export { createSqliteCluster, defaultDataDir, prepareDataDir, SqliteFile, STORE_FILE } from './sqlite.js'
export { SqliteDriverName } from './sqlite-driver.js'

/** Where a single server keeps its state when no Redis is given. */
export const StoreKind = { SQLITE: 'sqlite', MEMORY: 'memory' } as const
export type StoreKind = (typeof StoreKind)[keyof typeof StoreKind]

export interface ClusterOptions extends Partial<Omit<RedisClusterOptions, 'url' | 'instanceId'>> {
  /** Redis to share state through; absent or empty → in-memory, one process. */
  redisUrl?: string
  /** Defaults to `{hostname}-{random}`: unique per process, readable in CLIENT LIST. */
  instanceId?: string
  /** Without Redis: `memory` (default here) or `sqlite` (needs `dataDir`). */
  store?: StoreKind
  /** SQLite: the folder of the store file (created 0700). */
  dataDir?: string
  /** SQLite: only this driver (`ADIT_SQLITE_DRIVER`); the first that loads otherwise. */
  sqliteDriver?: SqliteDriverName
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
  const { redisUrl, hub, store, dataDir, sqliteDriver, ...rest } = options
  const instanceId = options.instanceId ?? defaultInstanceId()
  if (redisUrl === undefined || redisUrl === '') {
    if (store === StoreKind.SQLITE) return createSqliteCluster({ instanceId, dataDir, driver: sqliteDriver, hub, now: rest.now, onError: rest.onError })
    return createMemoryCluster({ instanceId, hub, now: rest.now, onError: rest.onError })
  }
  return createRedisCluster({ ...rest, url: redisUrl, instanceId })
}
