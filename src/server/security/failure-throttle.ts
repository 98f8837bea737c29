import { addressBytes } from './cidr.js'

/**
 * Exponential back-off for failed credential attempts, per key (a client
 * address, or an address and a tunnel). The first `freeFailures` failures
 * cost nothing; each failure after them shuts the key out for
 * `baseMs · 2^(n − freeFailures)`, up to `maxMs`. Attempts still being
 * checked count against the free ones, so a burst of concurrent guesses gets
 * no more checks than a sequence of them. Keys are kept in a Map used as an
 * LRU, capped at `maxKeys`; a key quiet for `maxMs` after its last failure
 * starts afresh. No timers: state is brought up to date when it is asked.
 *
 * @example
 * const throttle = new FailureThrottle({ freeFailures: 5 })
 * const attempt = throttle.begin(key)
 * if (!attempt.ok) return answer429(attempt.retryAfterSec)
 * const good = await check()
 * throttle.end(key, good)
 */

export interface FailureThrottleOptions {
  /** Failures allowed before any back-off. */
  freeFailures: number
  /** The first back-off (ms); it doubles with every further failure. */
  baseMs: number
  /** The longest back-off (ms); also how long a key's failures are remembered. */
  maxMs: number
  /** Keys kept at most (least recently used goes first). */
  maxKeys: number
  now: () => number
}

export const failureThrottleDefaults: FailureThrottleOptions = {
  freeFailures: 5,
  baseMs: 1000,
  maxMs: 15 * 60_000,
  maxKeys: 50_000,
  now: Date.now,
}

/** Outcome of `begin`: go on and check the credentials (then call `end`), or refuse with the seconds to wait. */
export type AttemptResult = { ok: true } | { ok: false; retryAfterSec: number }

interface KeyState {
  failures: number
  pending: number
  lastFailureAt: number
  blockedUntil: number
}

const OK: AttemptResult = { ok: true }

export function validateFailureThrottleOptions(input: Partial<FailureThrottleOptions>, name = 'authThrottle'): FailureThrottleOptions {
  const options = { ...failureThrottleDefaults, ...input }
  for (const key of ['freeFailures', 'baseMs', 'maxMs', 'maxKeys'] as const) {
    const value = options[key]
    if (!Number.isInteger(value) || value < (key === 'freeFailures' ? 0 : 1))
      throw new RangeError(`${name}.${key} must be an integer ≥ ${key === 'freeFailures' ? 0 : 1}, got ${String(value)}`)
  }
  if (options.maxMs < options.baseMs) throw new RangeError(`${name}.maxMs must be ≥ ${name}.baseMs`)
  return options
}

export class FailureThrottle {
  private readonly options: FailureThrottleOptions
  private readonly keys = new Map<string, KeyState>()
  /** Attempts refused so far (metrics, tests). */
  refused = 0

  constructor(input: Partial<FailureThrottleOptions> = {}) {
    this.options = validateFailureThrottleOptions(input)
  }

  /** May `key` try a credential now? When ok, the attempt is pending until `end(key, …)`. */
  begin(key: string): AttemptResult {
    const now = this.options.now()
    const state = this.fresh(key, now)
    if (state.blockedUntil > now) return this.refuse(Math.ceil((state.blockedUntil - now) / 1000))
    // Attempts in flight may all fail: they count against the free failures already.
    if (state.failures < this.options.freeFailures && state.failures + state.pending >= this.options.freeFailures) return this.refuse(1)
    // Past the free ones: one attempt at a time, each after its back-off.
    if (state.failures >= this.options.freeFailures && state.pending > 0) return this.refuse(1)
    state.pending++
    this.touch(key, state)
    return OK
  }

  /** The attempt `begin` allowed has been checked: a success forgets the key, a failure counts. */
  end(key: string, success: boolean): void {
    const state = this.keys.get(key)
    if (success) {
      this.keys.delete(key)
      return
    }
    const now = this.options.now()
    const current = state ?? { failures: 0, pending: 1, lastFailureAt: now, blockedUntil: 0 }
    current.pending = Math.max(0, current.pending - 1)
    current.failures++
    current.lastFailureAt = now
    const over = current.failures - this.options.freeFailures
    if (over >= 0) current.blockedUntil = now + Math.min(this.options.maxMs, this.options.baseMs * 2 ** Math.min(over, 30))
    this.touch(key, current)
  }

  /** Ends an attempt that was neither a success nor a failure (the check could not run). */
  cancel(key: string): void {
    const state = this.keys.get(key)
    if (state === undefined) return
    state.pending = Math.max(0, state.pending - 1)
    if (state.pending === 0 && state.failures === 0) this.keys.delete(key)
  }

  /** Keys tracked now. */
  get size(): number {
    return this.keys.size
  }

  private fresh(key: string, now: number): KeyState {
    const state = this.keys.get(key)
    if (state === undefined) return { failures: 0, pending: 0, lastFailureAt: 0, blockedUntil: 0 }
    if (state.pending === 0 && state.failures > 0 && now - state.lastFailureAt > this.options.maxMs) {
      state.failures = 0
      state.blockedUntil = 0
    }
    return state
  }

  private touch(key: string, state: KeyState): void {
    this.keys.delete(key)
    if (this.keys.size >= this.options.maxKeys) this.keys.delete(this.keys.keys().next().value as string)
    this.keys.set(key, state)
  }

  private refuse(retryAfterSec: number): AttemptResult {
    this.refused++
    return { ok: false, retryAfterSec: Math.max(1, retryAfterSec) }
  }
}

/**
 * The throttle key of a client address: IPv4 as is, IPv6 by its /64 (one
 * host usually holds a whole /64, so counting single addresses would give an
 * attacker 2^64 fresh starts).
 */
export function clientKeyOf(address: string): string {
  const bytes = addressBytes(address)
  if (bytes === null) return address
  const mapped = bytes.subarray(0, 12).equals(Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]))
  if (mapped) return `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`
  return `${bytes.subarray(0, 8).toString('hex')}::/64`
}
