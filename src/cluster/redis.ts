/**
 * The Redis cluster: shared state and the message bus for many server
 * instances (`REDIS_URL`). Two connections per instance — one for commands
 * and publishing, one dedicated to the bus subscription. Both reconnect by
 * themselves with capped, jittered backoff; while either is down `healthy()`
 * is false and calls fail fast with ADIT_ERR_CLUSTER_UNAVAILABLE (no offline
 * queue, so a Redis outage cannot grow memory). No Redis error ever escapes
 * as an uncaught exception: every client has an 'error' listener.
 */
import { setTimeout as delay } from 'node:timers/promises'
import { createClient, type RedisClientType } from 'redis'
import { ClusterError, ClusterErrorCode } from './errors.js'
import { Lifecycle } from './lifecycle.js'
import {
  DEFAULT_REDIS_KEY_PREFIX,
  badOption,
  checkCommonOptions,
  checkFunction,
  checkNonEmptyString,
  checkPositiveInteger,
  type CommonClusterOptions,
} from './options.js'
import { RedisBus } from './redis-bus.js'
import { RedisKeys } from './redis-keys.js'
import { RedisPresence } from './redis-presence.js'
import { RedisRateBuckets } from './redis-rates.js'
import { RedisTunnelStore } from './redis-store.js'
import type { Cluster } from './types.js'

export interface RedisClusterOptions extends CommonClusterOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…` for TLS. */
  url: string
  /** Prepended to every key and channel; lets deployments (and test runs) share one Redis. */
  keyPrefix?: string
  /** How long the first connection may take before creation fails (ms). */
  startTimeoutMs?: number
  /** TCP connect timeout for each attempt (ms). */
  connectTimeoutMs?: number
  /** First reconnect delay (ms); doubles per failed attempt, plus up to this much jitter. */
  reconnectBaseMs?: number
  /** Cap on the reconnect delay (ms). */
  reconnectMaxMs?: number
  /** Commands that may wait for a reply at once per connection; more fail with UNAVAILABLE. */
  maxPendingCommands?: number
  /** PING on the command connection when idle this long (ms), so a dead link is noticed. */
  pingIntervalMs?: number
  /** How long close() waits for in-flight replies before dropping the connections (ms). */
  closeTimeoutMs?: number
  /** Told when healthy() flips, e.g. to update readiness or log an outage once. */
  onHealthChange?: (healthy: boolean) => void
}

export const redisClusterDefaults = {
  keyPrefix: DEFAULT_REDIS_KEY_PREFIX,
  startTimeoutMs: 5_000,
  connectTimeoutMs: 2_000,
  reconnectBaseMs: 50,
  reconnectMaxMs: 2_000,
  maxPendingCommands: 10_000,
  pingIntervalMs: 15_000,
  closeTimeoutMs: 1_000,
  now: Date.now,
} as const

type Resolved = Required<Omit<RedisClusterOptions, 'onError' | 'onHealthChange'>> & Pick<RedisClusterOptions, 'onError' | 'onHealthChange'>

/** Fills defaults and checks every option, naming the first bad one (ADIT_ERR_CLUSTER_OPTION). */
export function resolveRedisClusterOptions(options: RedisClusterOptions): Resolved {
  checkCommonOptions(options)
  checkNonEmptyString('url', options.url)
  let parsed: URL
  try {
    parsed = new URL(options.url)
  } catch {
    badOption('url', 'is not a URL (expected redis://host:port)')
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') badOption('url', 'must start with redis:// or rediss://')
  const resolved = { ...redisClusterDefaults, ...stripUndefined(options) } as Resolved
  if (typeof resolved.keyPrefix !== 'string') badOption('keyPrefix', 'must be a string')
  for (const name of [
    'startTimeoutMs',
    'connectTimeoutMs',
    'reconnectBaseMs',
    'reconnectMaxMs',
    'maxPendingCommands',
    'pingIntervalMs',
    'closeTimeoutMs',
  ] as const) {
    checkPositiveInteger(name, resolved[name])
  }
  if (resolved.reconnectMaxMs < resolved.reconnectBaseMs) badOption('reconnectMaxMs', 'must be at least reconnectBaseMs')
  if (resolved.onHealthChange !== undefined) checkFunction('onHealthChange', resolved.onHealthChange)
  return resolved
}

function stripUndefined<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<T>
}

/** Where a URL points, without its credentials: safe for error messages and logs. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url)
    return `${parsed.protocol}//${parsed.host}`
  } catch {
    return '(unparseable REDIS_URL)'
  }
}

function ignore(): void {}

/** Resolves when `promise` does, or rejects after `ms`; the timer never outlives the race. */
async function within<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  const timer = new AbortController()
  try {
    return await Promise.race([
      promise,
      delay(ms, undefined, { signal: timer.signal }).then(() => {
        throw onTimeout()
      }),
    ])
  } finally {
    timer.abort()
  }
}

/** Resolves at the client's next 'ready' or 'error': the end of a connection attempt. */
function attemptSettled(client: RedisClientType): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      client.off('ready', done)
      client.off('error', done)
      resolve()
    }
    client.on('ready', done)
    client.on('error', done)
  })
}

/** Stops a client whatever state it is in; never throws. */
async function shutdown(client: RedisClientType, closeTimeoutMs: number): Promise<void> {
  if (client.isOpen && !client.isReady) {
    // node-redis 5 cannot cancel a reconnect whose TCP connect is in flight:
    // destroy() then leaves that socket to come up on its own. Let the
    // attempt end first (bounded), then close or destroy what it left.
    await within(attemptSettled(client), closeTimeoutMs, () => new Error('reconnect still pending')).catch(ignore)
  }
  if (client.isReady) {
    await within(client.close(), closeTimeoutMs, () => new Error('close timed out')).catch(ignore)
  }
  if (client.isOpen) {
    client.unref() // last resort: whatever is left can never hold the process open
    try {
      client.destroy()
    } catch {
      // already closed between the check and the call
    }
  }
}

/**
 * Connects to Redis and returns a Cluster once both connections answer.
 * Fails with ADIT_ERR_CLUSTER_UNAVAILABLE when nothing answers within
 * `startTimeoutMs`, so a server with a wrong REDIS_URL says so at start.
 *
 * @example
 * const cluster = await createRedisCluster({ url: 'redis://127.0.0.1:6379', instanceId: 'a' })
 * await cluster.presence.announce('t1', 'a', 30_000)
 */
export async function createRedisCluster(options: RedisClusterOptions): Promise<Cluster> {
  const o = resolveRedisClusterOptions(options)
  const onError = o.onError ?? ignore
  const life = new Lifecycle()

  const publisher = createClient({
    url: o.url,
    name: `adit:${o.instanceId}`,
    disableOfflineQueue: true,
    commandsQueueMaxLength: o.maxPendingCommands,
    pingInterval: o.pingIntervalMs,
    socket: {
      connectTimeout: o.connectTimeoutMs,
      reconnectStrategy: (retries: number) =>
        Math.min(o.reconnectBaseMs * 2 ** Math.min(retries, 20), o.reconnectMaxMs) + Math.floor(Math.random() * o.reconnectBaseMs),
    },
  }) as unknown as RedisClientType
  // A subscribed connection cannot PING through node-redis, so no ping timer there.
  const subscriber = publisher.duplicate({ pingInterval: 0, name: `adit:${o.instanceId}:bus` }) as RedisClientType

  const healthy = (): boolean => !life.closed && publisher.isReady && subscriber.isReady
  let lastHealth = false
  const noteHealth = (): void => {
    const now = healthy()
    if (now === lastHealth) return
    lastHealth = now
    o.onHealthChange?.(now)
  }
  for (const client of [publisher, subscriber]) {
    client.on('error', (error: unknown) => {
      noteHealth()
      if (!life.closed) onError(new ClusterError(ClusterErrorCode.UNAVAILABLE, `redis at ${redactRedisUrl(o.url)}: connection error`, { cause: error }))
    })
    client.on('ready', noteHealth)
    client.on('end', noteHealth)
    client.on('reconnecting', noteHealth)
  }

  const connecting = Promise.all([publisher.connect(), subscriber.connect()])
  connecting.catch(ignore) // rejections are handled through the race below, or after a timeout by shutdown
  try {
    await within(
      connecting,
      o.startTimeoutMs,
      () =>
        new ClusterError(
          ClusterErrorCode.UNAVAILABLE,
          `nothing answered at ${redactRedisUrl(o.url)} within ${o.startTimeoutMs} ms; check REDIS_URL and that Redis is running`,
        ),
    )
  } catch (error) {
    life.closed = true
    await Promise.all([shutdown(publisher, o.closeTimeoutMs), shutdown(subscriber, o.closeTimeoutMs)])
    throw error instanceof ClusterError
      ? error
      : new ClusterError(ClusterErrorCode.UNAVAILABLE, `could not connect to ${redactRedisUrl(o.url)}`, { cause: error })
  }

  const keys = new RedisKeys(o.keyPrefix)
  const bus = new RedisBus(o.instanceId, publisher, subscriber, keys, life, onError)
  return {
    kind: 'redis',
    store: new RedisTunnelStore(publisher, keys, life),
    presence: new RedisPresence(publisher, keys, life, o.now),
    bus,
    rates: new RedisRateBuckets(publisher, keys, life, onError),
    healthy,
    async close() {
      if (life.closed) return
      life.closed = true
      await within(bus.unsubscribe(), o.closeTimeoutMs, () => new Error('unsubscribe timed out')).catch(ignore)
      await Promise.all([shutdown(publisher, o.closeTimeoutMs), shutdown(subscriber, o.closeTimeoutMs)])
      noteHealth()
    },
  }
}
