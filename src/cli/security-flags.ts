import type { SecurityOptions } from '../server/security/security-options.js'
import { parseRate } from '../server/security/security-options.js'
import { parseBoolean, parseDuration, parseInteger } from './parse.js'

/** Security flags of `adit server` (env already applied by commander). */
export interface SecurityFlags {
  apiKeys?: string
  jwtSecret?: string
  jwksUrl?: string
  jwtIssuer?: string
  jwtAudience?: string
  allowHttpJwks?: boolean | string
  adminToken?: string
  allowOpenRegistration?: boolean | string
  maxTunnelsPerKey?: string
  maxStreamsPerTunnel?: string
  tunnelRate?: string
  registerRate?: string
  idleTtl?: string
  rotationGrace?: string
  authFreeFailures?: string
  authMaxBackoff?: string
  authHashConcurrency?: string
}

function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean)
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim()
}

/**
 * Turns the resolved settings (flag > env > config file) into security
 * options. Secrets may come from any of the three; the README recommends the
 * environment or the file, since a flag shows in the process list.
 */
export function securityOptionsFromFlags(flags: SecurityFlags, env: NodeJS.ProcessEnv): Partial<SecurityOptions> {
  const options: Partial<SecurityOptions> = {
    apiKeys: list(flags.apiKeys),
    jwtSecret: nonEmpty(flags.jwtSecret),
    jwksUrl: nonEmpty(flags.jwksUrl),
    jwtIssuer: nonEmpty(flags.jwtIssuer),
    jwtAudience: nonEmpty(flags.jwtAudience),
    adminToken: nonEmpty(flags.adminToken),
    cloudRunService: nonEmpty(env.K_SERVICE),
  }
  const allow = flags.allowOpenRegistration
  if (allow !== undefined)
    options.allowOpenRegistration = typeof allow === 'boolean' ? allow : parseBoolean('--allow-open-registration / ADIT_ALLOW_OPEN_REGISTRATION', allow)
  if (flags.maxTunnelsPerKey !== undefined) options.maxTunnelsPerKey = parseInteger('--max-tunnels-per-key / ADIT_MAX_TUNNELS_PER_KEY', flags.maxTunnelsPerKey)
  if (flags.maxStreamsPerTunnel !== undefined)
    options.maxStreamsPerTunnel = parseInteger('--max-streams-per-tunnel / ADIT_MAX_STREAMS_PER_TUNNEL', flags.maxStreamsPerTunnel)
  if (nonEmpty(flags.tunnelRate) !== undefined && flags.tunnelRate !== '0')
    options.tunnelRate = parseRate('--tunnel-rate / ADIT_TUNNEL_RATE', flags.tunnelRate!)
  if (nonEmpty(flags.registerRate) !== undefined) options.registerRate = parseRate('--register-rate / ADIT_REGISTER_RATE', flags.registerRate!)
  if (flags.idleTtl !== undefined) options.idleTtlMs = flags.idleTtl.trim() === '0' ? 0 : parseDuration('--idle-ttl / TUNNEL_IDLE_TTL', flags.idleTtl)
  if (flags.rotationGrace !== undefined) options.rotationGraceMs = parseDuration('--rotation-grace / ADIT_ROTATION_GRACE', flags.rotationGrace)
  if (flags.authFreeFailures !== undefined) options.authFreeFailures = parseInteger('--auth-free-failures / ADIT_AUTH_FREE_FAILURES', flags.authFreeFailures)
  if (flags.authMaxBackoff !== undefined) options.authMaxBackoffMs = parseDuration('--auth-max-backoff / ADIT_AUTH_MAX_BACKOFF', flags.authMaxBackoff)
  if (flags.authHashConcurrency !== undefined)
    options.hashConcurrency = parseInteger('--auth-hash-concurrency / ADIT_AUTH_HASH_CONCURRENCY', flags.authHashConcurrency)
  const http = flags.allowHttpJwks
  if (http !== undefined) options.allowHttpJwks = typeof http === 'boolean' ? http : parseBoolean('--allow-http-jwks / ADIT_ALLOW_HTTP_JWKS', http)
  return options
}
