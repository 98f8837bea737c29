import type { IncomingMessage } from 'node:http'
import type { RateBuckets, TunnelStore } from '../../cluster/types.js'
import { ErrorCode } from '../../errors.js'
import { AccessGate, JwksCache, type Denial } from './access-rules.js'
import { BasicAuthVerifier } from './basic-auth-verifier.js'
import { clientIpFor } from './client-ip.js'
import { KeyedRateLimiter, type RateLimit } from './rate-limiter.js'

export interface TunnelGuardOptions {
  store: TunnelStore | undefined
  /** Buckets for per-visitor limits (shared across instances with Redis); undefined: no visitor limits. */
  rates?: RateBuckets
  trustProxy: boolean
  /** Streams in flight per tunnel on this instance; 0 = no cap. */
  maxStreamsPerTunnel: number
  /** Public requests per tunnel (token bucket); undefined = no limit. */
  tunnelRate: RateLimit | undefined
  /** How long a tunnel's compiled access rules are reused before the store is asked again (ms). */
  accessCacheMs: number
  /** Tunnels whose rules and buckets are kept in memory at most (LRU). */
  maxTrackedTunnels: number
  jwks?: JwksCache
  /** The server's basic-auth checker (verified cache, failure throttle, bounded hash queue). */
  basicAuth?: BasicAuthVerifier
  now?: () => number
}

/** The store has no record for the tunnel. */
const MISSING = Symbol('no record')

/** A request let through: `release()` once its exchange finished (frees its stream slot). */
export type Admission = { ok: true; gate: AccessGate | null } | { ok: false; denial: Denial }

interface CachedAccess {
  gate: AccessGate | null
  until: number
}

/**
 * Everything the server checks about a public request before a stream is
 * opened to the agent: the tunnel's request rate (429), its access rules
 * (401/403) and its cap on streams in flight (429). Cheap checks first, so a
 * flood of bad passwords is throttled before scrypt runs.
 */
export class TunnelGuard {
  private readonly options: TunnelGuardOptions
  private readonly rates: KeyedRateLimiter | undefined
  private readonly inFlight = new Map<string, number>()
  private readonly access = new Map<string, CachedAccess>()
  private readonly jwks: JwksCache
  readonly basicAuth: BasicAuthVerifier
  private readonly now: () => number
  /** Requests refused by this guard, per code (tests and metrics). */
  readonly refused = new Map<string, number>()

  constructor(options: TunnelGuardOptions) {
    this.options = options
    this.now = options.now ?? Date.now
    this.jwks = options.jwks ?? new JwksCache()
    this.basicAuth = options.basicAuth ?? new BasicAuthVerifier({ now: this.now })
    this.rates = options.tunnelRate !== undefined ? new KeyedRateLimiter(options.tunnelRate, { maxKeys: options.maxTrackedTunnels, now: this.now }) : undefined
  }

  /** `path` is the path the agent will see (after `/pub/{id}`); per-visitor limits match on it. */
  async admit(tunnelId: string, req: IncomingMessage, path = req.url ?? '/'): Promise<Admission> {
    if (this.rates !== undefined) {
      const taken = this.rates.take(tunnelId)
      if (!taken.ok) return this.deny({ code: ErrorCode.RATE_LIMITED, headers: { 'retry-after': String(taken.retryAfterSec) }, rule: 'tunnel rate limit' })
    }
    const gate = await this.gateFor(tunnelId)
    if (gate === MISSING) {
      // No record: an unknown or revoked tunnel, never one served without its rules.
      const revoked = await this.options.store!.isRevoked(tunnelId)
      return this.deny({ code: revoked ? ErrorCode.TUNNEL_REVOKED : ErrorCode.UNKNOWN_TUNNEL })
    }
    if (gate !== null) {
      const clientIp = clientIpFor(req, this.options.trustProxy)
      const buckets = this.options.rates
      if (gate.visitors !== undefined && buckets !== undefined) {
        // Redis's buckets fall back to this instance's own while Redis is down (redis-rates.ts); what still
        // fails (a cluster closing under a shutdown) lets the request through: a limit is not worth an outage.
        const taken = await gate.visitors.take(buckets, req, clientIp, path, this.options.trustProxy).catch(() => ({ ok: true }) as const)
        if (!taken.ok) return this.deny({ code: ErrorCode.RATE_LIMITED, headers: { 'retry-after': String(taken.retryAfterSec) }, rule: 'visitor rate limit' })
      }
      const denial = await gate.check(req, clientIp)
      if (denial !== null) return this.deny(denial)
    }
    const max = this.options.maxStreamsPerTunnel
    const current = this.inFlight.get(tunnelId) ?? 0
    if (max > 0 && current >= max) return this.deny({ code: ErrorCode.TOO_MANY_STREAMS, headers: { 'retry-after': '1' }, rule: 'streams per tunnel' })
    this.inFlight.set(tunnelId, current + 1)
    return { ok: true, gate }
  }

  /** Frees the stream slot an admitted request held. */
  release(tunnelId: string): void {
    const current = this.inFlight.get(tunnelId) ?? 0
    if (current <= 1) this.inFlight.delete(tunnelId)
    else this.inFlight.set(tunnelId, current - 1)
  }

  /** Reads a tunnel's rules into the cache ahead of its first request (an agent just connected). Never throws. */
  warm(tunnelId: string): void {
    this.gateFor(tunnelId).catch(() => {})
  }

  /** Forget a tunnel's cached rules (after a change or a revocation). */
  invalidate(tunnelId: string): void {
    this.access.delete(tunnelId)
    this.rates?.delete(tunnelId)
  }

  streamsInFlight(tunnelId: string): number {
    return this.inFlight.get(tunnelId) ?? 0
  }

  private deny(denial: Denial): Admission {
    this.refused.set(denial.code, (this.refused.get(denial.code) ?? 0) + 1)
    return { ok: false, denial }
  }

  /**
   * The tunnel's compiled rules (null: none), or MISSING when it has no
   * record. Only found records are cached: a tunnel registered a moment ago
   * on another instance is never refused for a cache's lifetime.
   */
  private async gateFor(tunnelId: string): Promise<AccessGate | null | typeof MISSING> {
    const store = this.options.store
    if (store === undefined) return null
    const now = this.now()
    const cached = this.access.get(tunnelId)
    if (cached !== undefined && cached.until > now) return cached.gate
    let record
    try {
      record = await store.get(tunnelId)
    } catch (error) {
      // Store outage: keep the rules last read (a tunnel served here keeps being
      // served, with its rules); never read → the error propagates and the
      // server answers 503 rather than serve a tunnel whose rules it cannot know.
      if (cached !== undefined) return cached.gate
      throw error
    }
    if (record === null) return MISSING
    const gate = record.access !== undefined ? new AccessGate(record.access, this.jwks, this.basicAuth, tunnelId) : null
    this.access.delete(tunnelId)
    if (this.access.size >= this.options.maxTrackedTunnels) this.access.delete(this.access.keys().next().value as string)
    this.access.set(tunnelId, { gate, until: now + this.options.accessCacheMs })
    return gate
  }
}
