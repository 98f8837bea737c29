import { isIP } from 'node:net'
import { ConfigError } from '../errors.js'

/**
 * Public access rules the agent asks the server to enforce for its tunnel,
 * in the form `/register` takes (`access` in the JSON body). The server
 * hashes the password and checks every request before it reaches this agent.
 */
export interface TunnelAccessRequest {
  basic_auth?: string
  allow_ips?: string[]
  require_jwt?: { issuer?: string; audience?: string; jwks_url: string }
  /** Per-visitor rate limits (visitor-limits.ts): the first whose host and path prefix match applies. */
  visitor_limits?: Array<{ host?: string; path?: string; rate_per_sec: number; burst?: number; by?: string }>
}

/** `--basic-auth user:pass`. */
export function parseBasicAuthFlag(value: string): string {
  const colon = value.indexOf(':')
  if (colon < 1 || colon === value.length - 1) throw new ConfigError('--basic-auth must be user:password, both parts non-empty')
  return value
}

/** `--allow-ip 10.0.0.0/8,2001:db8::/32,203.0.113.7`: a light check here; the server parses for real. */
export function parseAllowIpFlag(value: string): string[] {
  const entries = value
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)
  if (entries.length === 0) throw new ConfigError('--allow-ip needs at least one address or CIDR')
  for (const entry of entries) {
    const [address, prefix, extra] = entry.split('/')
    if (isIP(address ?? '') === 0 || extra !== undefined || (prefix !== undefined && !/^\d{1,3}$/.test(prefix))) {
      throw new ConfigError(`--allow-ip entry ${JSON.stringify(entry)} is not an IP address or CIDR`)
    }
  }
  return entries
}

/** `--require-jwt issuer=https://…,audience=my-app,jwks=https://…/jwks.json`. */
export function parseRequireJwtFlag(value: string): NonNullable<TunnelAccessRequest['require_jwt']> {
  const fields: Record<string, string> = {}
  for (const part of value.split(',')) {
    const eq = part.indexOf('=')
    if (eq < 1) throw new ConfigError(`--require-jwt takes key=value pairs (issuer, audience, jwks), got ${JSON.stringify(part)}`)
    const key = part.slice(0, eq).trim()
    if (!['issuer', 'audience', 'jwks'].includes(key)) throw new ConfigError(`--require-jwt: unknown key ${JSON.stringify(key)} (use issuer, audience, jwks)`)
    fields[key] = part.slice(eq + 1).trim()
  }
  if (!fields.jwks) throw new ConfigError('--require-jwt needs jwks=<URL of the issuer key set>')
  return { jwks_url: fields.jwks, ...(fields.issuer ? { issuer: fields.issuer } : {}), ...(fields.audience ? { audience: fields.audience } : {}) }
}

/** The access request from the three flags, or undefined when none is set. */
export function accessFromFlags(flags: { basicAuth?: string; allowIp?: string; requireJwt?: string }): TunnelAccessRequest | undefined {
  const access: TunnelAccessRequest = {}
  if (flags.basicAuth !== undefined) access.basic_auth = parseBasicAuthFlag(flags.basicAuth)
  if (flags.allowIp !== undefined) access.allow_ips = parseAllowIpFlag(flags.allowIp)
  if (flags.requireJwt !== undefined) access.require_jwt = parseRequireJwtFlag(flags.requireJwt)
  if (access.basic_auth !== undefined && access.require_jwt !== undefined)
    throw new ConfigError('--basic-auth and --require-jwt both use the Authorization header; choose one')
  return Object.keys(access).length === 0 ? undefined : access
}
