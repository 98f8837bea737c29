import { createHash } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { RateBuckets, TunnelAccess, TunnelStore } from '../../cluster/types.js'
import { AditError, ErrorCode } from '../../errors.js'
import type { Logger } from '../../observability/logger.js'
import type { Credentials } from '../credentials.js'
import { accessFromRequest } from './access-rules.js'
import { clientIpFor } from './client-ip.js'
import { IdleSweeper, idleSweepInterval } from './idle-sweeper.js'
import { BasicAuthVerifier } from './basic-auth-verifier.js'
import { clientKeyOf, FailureThrottle } from './failure-throttle.js'
import { KeyedRateLimiter } from './rate-limiter.js'
import { RegistrationAuth } from './registration-auth.js'
import { resolveSecurityOptions, type SecurityOptions } from './security-options.js'
import { handleTunnelAdmin, routeTunnelAdmin, sendJsonError } from './tunnel-admin.js'
import { TunnelGuard, type Admission } from './tunnel-guard.js'

export interface ServerSecurityContext {
  credentials: Credentials
  store: TunnelStore
  /** Token buckets for per-visitor limits (the cluster's: shared across instances with Redis). */
  rates?: RateBuckets
  logger: Logger
  trustProxy: boolean
  /** Tunnel ids with a live agent on this instance. */
  liveTunnelIds(): Iterable<string>
  /** Sends GOAWAY(REVOKED) to the tunnel's agents here and closes their connections. */
  disconnect(tunnelId: string): void
}

/** What a registration gets from the security layer: who owns it and its access rules. */
export interface RegistrationGrant {
  ownerKeyHash: string | undefined
}

/**
 * The server's security layer, in one object so the server calls it at four
 * points: `/register` (rate limit, auth, per-key cap, access rules),
 * `/tunnels/…` (rotate, delete), public requests (`admit`/`release`), and
 * shutdown (`close`). Built at start: a bad setting fails the start.
 */
export class ServerSecurity {
  readonly options: SecurityOptions
  readonly registrationAuth: RegistrationAuth
  readonly registerLimiter: KeyedRateLimiter
  readonly guard: TunnelGuard
  readonly sweeper: IdleSweeper | undefined
  /** Back-off for wrong admin tokens (dashboard) and tunnel tokens (`/tunnels/{id}`), per client address. */
  readonly adminThrottle: FailureThrottle
  /** Basic-auth checks of every tunnel: verified cache, per-address back-off, bounded hash queue. */
  readonly basicAuth: BasicAuthVerifier
  private readonly ctx: ServerSecurityContext
  private readonly adminTokenHash: Buffer | undefined

  constructor(input: Partial<SecurityOptions> | undefined, ctx: ServerSecurityContext) {
    const options = resolveSecurityOptions(input)
    this.options = options
    this.ctx = ctx
    this.registrationAuth = new RegistrationAuth(options, { ...(options.cloudRunService !== undefined ? { K_SERVICE: options.cloudRunService } : {}) })
    this.registerLimiter = new KeyedRateLimiter(options.registerRate, { maxKeys: options.registerRateMaxClients })
    const throttle = { freeFailures: options.authFreeFailures, maxMs: options.authMaxBackoffMs }
    this.adminThrottle = new FailureThrottle(throttle)
    this.basicAuth = new BasicAuthVerifier({
      throttle,
      queue: { concurrency: options.hashConcurrency, maxQueued: options.hashQueue, maxQueuedPerKey: Math.min(4, options.hashQueue) },
    })
    this.guard = new TunnelGuard({
      store: ctx.store,
      ...(ctx.rates !== undefined ? { rates: ctx.rates } : {}),
      trustProxy: ctx.trustProxy,
      maxStreamsPerTunnel: options.maxStreamsPerTunnel,
      tunnelRate: options.tunnelRate,
      accessCacheMs: options.accessCacheMs,
      maxTrackedTunnels: 100_000,
      basicAuth: this.basicAuth,
    })
    this.adminTokenHash = options.adminToken === undefined ? undefined : createHash('sha256').update(options.adminToken, 'utf8').digest()
    if (options.idleTtlMs > 0) {
      this.sweeper = new IdleSweeper({
        store: ctx.store,
        ttlMs: options.idleTtlMs,
        intervalMs: options.idleSweepMs ?? idleSweepInterval(options.idleTtlMs),
        liveTunnelIds: ctx.liveTunnelIds,
        expire: async (id) => {
          ctx.logger.info({ tunnel: id }, 'tunnel expired: no agent for TUNNEL_IDLE_TTL')
          await this.revoke(id)
        },
        onError: (error) => ctx.logger.warn({ err: (error as Error).message }, 'idle sweep failed; retrying at the next one'),
      })
      this.sweeper.start()
    }
    if (this.registrationAuth.open)
      ctx.logger.warn('registration is open: anyone who reaches this server can create tunnels (set ADIT_API_KEYS to require a key)')
  }

  /**
   * The checks before `/register` reads its body: per-client rate (429) and
   * credentials (401). Null when it answered the request itself.
   */
  async authorizeRegistration(req: IncomingMessage, res: ServerResponse): Promise<RegistrationGrant | null> {
    const taken = this.registerLimiter.take(clientIpFor(req, this.ctx.trustProxy))
    if (!taken.ok) {
      req.resume()
      sendJsonError(res, ErrorCode.RATE_LIMITED, { 'retry-after': String(taken.retryAfterSec), connection: 'close' })
      return null
    }
    const verdict = await this.registrationAuth.authenticate(req.headers.authorization)
    if (!verdict.ok) {
      req.resume()
      sendJsonError(res, ErrorCode.UNAUTHORIZED, { 'www-authenticate': 'Bearer' }, `registration refused: ${verdict.reason}`)
      return null
    }
    return { ownerKeyHash: verdict.owner }
  }

  /**
   * What the new record gets from the parsed body: the owner (after the
   * per-key cap) and the access rules. Throws AditError with the status to answer.
   */
  async recordFields(grant: RegistrationGrant, body: Record<string, unknown>): Promise<{ ownerKeyHash?: string; access?: TunnelAccess }> {
    const owner = grant.ownerKeyHash
    const max = this.options.maxTunnelsPerKey
    if (owner !== undefined && max > 0 && (await this.ctx.store.countByOwner(owner)) >= max) {
      throw new AditError(ErrorCode.TOO_MANY_TUNNELS, 429, `this key already owns ${max} tunnels (ADIT_MAX_TUNNELS_PER_KEY); delete one first`)
    }
    const access = await accessFromRequest(body.access, { allowHttpJwks: this.options.allowHttpJwks })
    return { ...(owner !== undefined ? { ownerKeyHash: owner } : {}), ...(access !== undefined ? { access } : {}) }
  }

  /** Handles `/tunnels/{id}` and `/tunnels/{id}/rotate`; false for any other path. */
  handleAdmin(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> | false {
    const route = routeTunnelAdmin(path)
    if (route === null) return false
    return handleTunnelAdmin(req, res, route, {
      credentials: this.ctx.credentials,
      store: this.ctx.store,
      adminTokenHash: this.adminTokenHash,
      rotationGraceMs: this.options.rotationGraceMs,
      revoke: (id) => this.revoke(id),
      throttle: this.adminThrottle,
      clientKey: this.clientKey(req),
    })
  }

  /** The key a request's failed credentials are counted under: its client address (IPv6 by /64). */
  clientKey(req: IncomingMessage): string {
    return clientKeyOf(clientIpFor(req, this.ctx.trustProxy))
  }

  /** Revokes a tunnel for good (the id is never reused) and disconnects its agents here. */
  async revoke(id: string): Promise<void> {
    await this.ctx.store.revoke(id)
    this.guard.invalidate(id)
    this.ctx.disconnect(id)
    this.ctx.logger.info({ tunnel: id }, 'tunnel revoked')
  }

  /** Rate, access rules and stream cap of a public request, before any stream is opened. */
  admit(tunnelId: string, req: IncomingMessage, path?: string): Promise<Admission> {
    return this.guard.admit(tunnelId, req, path)
  }

  release(tunnelId: string): void {
    this.guard.release(tunnelId)
  }

  close(): void {
    this.sweeper?.stop()
  }
}
