import { ConfigError } from '../../errors.js'
import type { RateLimit } from './rate-limiter.js'

/** The server's security settings: registration auth, limits, tunnel lifetime. */
export interface SecurityOptions {
  /** API keys accepted at `/register` (`ADIT_API_KEYS`, comma-separated; several for rotation). */
  apiKeys: string[]
  /** HS256 secret for registration JWTs (`ADIT_JWT_SECRET`). */
  jwtSecret: string | undefined
  /** JWKS URL for registration JWTs (`ADIT_JWKS_URL`). */
  jwksUrl: string | undefined
  jwtIssuer: string | undefined
  jwtAudience: string | undefined
  /** Allow open registration on Cloud Run (`--allow-open-registration`). */
  allowOpenRegistration: boolean
  /** `K_SERVICE`: set on Cloud Run, where open registration is refused by default. */
  cloudRunService: string | undefined
  /** May delete any tunnel (`ADIT_ADMIN_TOKEN`). */
  adminToken: string | undefined
  /** Registrations per client address (`ADIT_REGISTER_RATE`). */
  registerRate: RateLimit
  /** Client addresses whose registration buckets are kept at most (LRU). */
  registerRateMaxClients: number
  /** Tunnels one API key may own; 0 = no cap (`ADIT_MAX_TUNNELS_PER_KEY`). */
  maxTunnelsPerKey: number
  /** Streams in flight per tunnel on one instance; 0 = no cap (`ADIT_MAX_STREAMS_PER_TUNNEL`). */
  maxStreamsPerTunnel: number
  /** Public requests per tunnel; undefined = no limit (`ADIT_TUNNEL_RATE`). */
  tunnelRate: RateLimit | undefined
  /** A tunnel with no agent this long is revoked; 0 = never (`TUNNEL_IDLE_TTL`). */
  idleTtlMs: number
  /** Time between idle sweeps (ms), at most half the TTL; by default a quarter of it, at least 10 ms, at most a minute. */
  idleSweepMs: number | undefined
  /** The previous secret stays valid this long after a rotation (`ADIT_ROTATION_GRACE`). */
  rotationGraceMs: number
  /** Accept `http://` JWKS URLs in tunnels' `--require-jwt` (tests, private networks). */
  allowHttpJwks: boolean
  /** How long a tunnel's access rules are cached before the store is read again (ms). */
  accessCacheMs: number
  /** Wrong admin tokens / basic-auth passwords per client address before the back-off starts (`ADIT_AUTH_FREE_FAILURES`). */
  authFreeFailures: number
  /** The longest back-off after wrong credentials, ms; it starts at 1 s and doubles (`ADIT_AUTH_MAX_BACKOFF`). */
  authMaxBackoffMs: number
  /** Basic-auth password hashes (scrypt) running at once, for the whole server (`ADIT_AUTH_HASH_CONCURRENCY`). */
  hashConcurrency: number
  /** Basic-auth checks waiting for a hash, for the whole server (503 beyond); each tunnel may hold 4 of them. */
  hashQueue: number
}

export const securityDefaults: SecurityOptions = {
  apiKeys: [],
  jwtSecret: undefined,
  jwksUrl: undefined,
  jwtIssuer: undefined,
  jwtAudience: undefined,
  allowOpenRegistration: false,
  cloudRunService: process.env.K_SERVICE,
  adminToken: undefined,
  registerRate: { ratePerSec: 0.5, burst: 30 },
  registerRateMaxClients: 10_000,
  maxTunnelsPerKey: 100,
  maxStreamsPerTunnel: 1000,
  tunnelRate: undefined,
  idleTtlMs: 7 * 24 * 3_600_000,
  idleSweepMs: undefined,
  rotationGraceMs: 5 * 60_000,
  allowHttpJwks: false,
  accessCacheMs: 5000,
  authFreeFailures: 5,
  authMaxBackoffMs: 15 * 60_000,
  hashConcurrency: 2,
  hashQueue: 64,
}

function nonNegativeInt(value: number, name: string): void {
  if (!Number.isInteger(value) || value < 0) throw new ConfigError(`server option security.${name} must be an integer ≥ 0, got ${String(value)}`)
}

function checkRate(rate: RateLimit, name: string): void {
  if (!(rate.ratePerSec > 0) || !Number.isFinite(rate.ratePerSec) || !Number.isInteger(rate.burst) || rate.burst < 1) {
    throw new ConfigError(`server option security.${name} needs ratePerSec > 0 and an integer burst ≥ 1`)
  }
}

/** Fills defaults and checks every field, naming the bad one. */
export function resolveSecurityOptions(input: Partial<SecurityOptions> = {}): SecurityOptions {
  const options: SecurityOptions = { ...securityDefaults }
  for (const [key, value] of Object.entries(input)) {
    if (value !== undefined) (options as unknown as Record<string, unknown>)[key] = value
  }
  if (!Array.isArray(options.apiKeys) || !options.apiKeys.every((k) => typeof k === 'string'))
    throw new ConfigError('server option security.apiKeys must be a list of strings')
  checkRate(options.registerRate, 'registerRate')
  if (options.tunnelRate !== undefined) checkRate(options.tunnelRate, 'tunnelRate')
  for (const name of [
    'registerRateMaxClients',
    'maxTunnelsPerKey',
    'maxStreamsPerTunnel',
    'idleTtlMs',
    'rotationGraceMs',
    'accessCacheMs',
    'authFreeFailures',
    'hashQueue',
  ] as const)
    nonNegativeInt(options[name], name)
  if (!Number.isInteger(options.authMaxBackoffMs) || options.authMaxBackoffMs < 1000)
    throw new ConfigError(`server option security.authMaxBackoffMs must be an integer ≥ 1000, got ${String(options.authMaxBackoffMs)}`)
  if (!Number.isInteger(options.hashConcurrency) || options.hashConcurrency < 1)
    throw new ConfigError(`server option security.hashConcurrency must be an integer ≥ 1, got ${String(options.hashConcurrency)}`)
  if (options.registerRateMaxClients < 1) throw new ConfigError('server option security.registerRateMaxClients must be ≥ 1')
  if (options.idleSweepMs !== undefined && (!Number.isInteger(options.idleSweepMs) || options.idleSweepMs < 10)) {
    throw new ConfigError(`server option security.idleSweepMs must be an integer ≥ 10, got ${String(options.idleSweepMs)}`)
  }
  // Another instance sees a held tunnel as live only through the holder's touches, one per sweep.
  if (options.idleSweepMs !== undefined && options.idleTtlMs > 0 && options.idleSweepMs * 2 > options.idleTtlMs) {
    throw new ConfigError(
      `server option security.idleSweepMs (${options.idleSweepMs}) must be at most half of idleTtlMs (${options.idleTtlMs}): with several instances a longer one expires tunnels whose agent is connected elsewhere`,
    )
  }
  if (options.adminToken !== undefined && options.adminToken.length < 16) throw new ConfigError('ADIT_ADMIN_TOKEN must be at least 16 characters')
  return options
}
