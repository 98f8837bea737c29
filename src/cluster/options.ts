/**
 * Option checks shared by both cluster backends. Each names the bad option so
 * a misconfigured server says exactly what to fix.
 */
import { ClusterError, ClusterErrorCode } from './errors.js'

/** The prefix of every Redis key and channel (`--redis-prefix`); here so the settings table can show it without loading the Redis client. */
export const DEFAULT_REDIS_KEY_PREFIX = 'adit:'

export function badOption(name: string, why: string): never {
  throw new ClusterError(ClusterErrorCode.BAD_OPTION, `cluster option ${name} ${why}`)
}

export function checkNonEmptyString(name: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || value === '') badOption(name, 'must be a non-empty string')
}

export function checkPositiveInteger(name: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    badOption(name, 'must be a positive integer')
  }
}

export function checkFunction(name: string, value: unknown): void {
  if (typeof value !== 'function') badOption(name, 'must be a function')
}

/** Options both backends accept. */
export interface CommonClusterOptions {
  /** Names this server instance on the bus and in presence entries; unique per live instance. */
  instanceId: string
  /** Clock in epoch ms, for presence expiry (tests pass a fake one). */
  now?: () => number
  /**
   * Errors nobody awaits: a dropped Redis connection, a bus handler that threw.
   * The cluster keeps going; this is where the server logs them.
   */
  onError?: (error: unknown) => void
}

export function checkCommonOptions(options: CommonClusterOptions): void {
  if (options === null || typeof options !== 'object') badOption('options', 'must be an object')
  checkNonEmptyString('instanceId', options.instanceId)
  if (options.now !== undefined) checkFunction('now', options.now)
  if (options.onError !== undefined) checkFunction('onError', options.onError)
}

/** Presence TTLs arrive per call; they are checked like options. */
export function checkTtl(ttlMs: number): void {
  checkPositiveInteger('ttlMs', ttlMs)
}
