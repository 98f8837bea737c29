import type { IncomingMessage } from 'node:http'
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose'
import type { TunnelAccess } from '../../cluster/types.js'
import { AditError, ConfigError, ErrorCode, type PublicErrorCode } from '../../errors.js'
import { basicCredentialsOf, hashCredentials } from './basic-auth.js'
import { BasicAuthVerifier } from './basic-auth-verifier.js'
import { CidrList } from './cidr.js'
import { VisitorLimiter, visitorLimitsFromRequest } from './visitor-limits.js'

/**
 * Per-tunnel public access rules: what the agent asks for at registration
 * (`access` in the `/register` body), how it is stored (`TunnelAccess`,
 * the password only as a salted scrypt hash), and the gate the server runs
 * before a public request opens a stream. A denial never reaches the agent.
 */

/** The `access` object of a `/register` body, as the agent sends it. */
export interface AccessRequest {
  /** `user:password`. */
  basic_auth?: string
  /** CIDRs or addresses. */
  allow_ips?: string[]
  require_jwt?: { issuer?: string; audience?: string; jwks_url: string }
  /** Per-visitor rate limits (visitor-limits.ts). */
  visitor_limits?: Array<{ host?: string; path?: string; rate_per_sec: number; burst?: number; by?: string }>
}

const MAX_ALLOW_ENTRIES = 256

function badAccess(message: string): never {
  throw new AditError(ErrorCode.BAD_REQUEST, 400, `access: ${message}`)
}

function optionalString(value: unknown, name: string, max: number): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || value.length === 0 || value.length > max) badAccess(`${name} must be a non-empty string of at most ${max} characters`)
  return value
}

/**
 * Checks an agent's access request and turns it into what is stored.
 * Throws AditError ADIT_ERR_BAD_REQUEST naming the bad field.
 */
export async function accessFromRequest(input: unknown, policy: { allowHttpJwks: boolean }): Promise<TunnelAccess | undefined> {
  if (input === undefined || input === null) return undefined
  if (typeof input !== 'object' || Array.isArray(input)) badAccess('must be an object')
  const request = input as Record<string, unknown>
  const access: TunnelAccess = {}
  const basic = optionalString(request.basic_auth, 'basic_auth', 1024)
  if (basic !== undefined) {
    const colon = basic.indexOf(':')
    if (colon < 1 || colon === basic.length - 1) badAccess('basic_auth must be user:password with both parts non-empty')
    access.basicAuthHash = await hashCredentials(basic)
  }
  if (request.allow_ips !== undefined) {
    const list = request.allow_ips
    if (!Array.isArray(list) || list.length === 0 || list.length > MAX_ALLOW_ENTRIES || !list.every((e) => typeof e === 'string')) {
      badAccess(`allow_ips must be a list of 1–${MAX_ALLOW_ENTRIES} CIDR strings`)
    }
    try {
      access.allowIps = new CidrList(list as string[]).entries.map((c) => c.text)
    } catch (error) {
      badAccess((error as ConfigError).message)
    }
  }
  if (request.require_jwt !== undefined) {
    const jwt = request.require_jwt as Record<string, unknown>
    if (jwt === null || typeof jwt !== 'object') badAccess('require_jwt must be an object')
    const jwksUrl = optionalString(jwt.jwks_url, 'require_jwt.jwks_url', 2048)
    if (jwksUrl === undefined) badAccess('require_jwt.jwks_url is required')
    let url: URL
    try {
      url = new URL(jwksUrl)
    } catch {
      badAccess('require_jwt.jwks_url is not a URL')
    }
    // The server fetches this URL: https only, so a tenant cannot point it at plain-http internals.
    if (url.protocol !== 'https:' && !(policy.allowHttpJwks && url.protocol === 'http:')) badAccess('require_jwt.jwks_url must be https://')
    const issuer = optionalString(jwt.issuer, 'require_jwt.issuer', 1024)
    const audience = optionalString(jwt.audience, 'require_jwt.audience', 1024)
    access.requireJwt = { jwksUrl, ...(issuer !== undefined ? { issuer } : {}), ...(audience !== undefined ? { audience } : {}) }
  }
  if (access.basicAuthHash !== undefined && access.requireJwt !== undefined)
    badAccess('basic_auth and require_jwt both use the Authorization header; choose one')
  const limits = visitorLimitsFromRequest(request.visitor_limits)
  if (limits !== undefined) access.visitorLimits = limits
  return Object.keys(access).length === 0 ? undefined : access
}

/** Why a public request was refused, and the headers that go with it. */
export interface Denial {
  code: PublicErrorCode
  headers?: Record<string, string>
  /** The rule that refused it (`visitor rate limit`, `basic auth`): the dashboard's "answered by". */
  rule?: string
}

/** Remote key sets, one per URL, shared by every tunnel that names it (bounded). */
export class JwksCache {
  private readonly sets = new Map<string, JWTVerifyGetKey>()
  constructor(private readonly max = 256) {}

  get(url: string): JWTVerifyGetKey {
    let set = this.sets.get(url)
    if (set === undefined) {
      if (this.sets.size >= this.max) this.sets.delete(this.sets.keys().next().value as string)
      set = createRemoteJWKSet(new URL(url), { timeoutDuration: 5000 })
      this.sets.set(url, set)
    }
    return set
  }
}

const BASIC_CHALLENGE = { 'www-authenticate': 'Basic realm="adit tunnel", charset="UTF-8"' }
const BEARER_CHALLENGE = { 'www-authenticate': 'Bearer realm="adit tunnel"' }

/** The compiled rules of one tunnel. */
export class AccessGate {
  /** The gate consumed `Authorization` (basic auth): it is not forwarded to the service. */
  readonly consumesAuthorization: boolean
  private readonly allow: CidrList | undefined
  private readonly basicHash: string | undefined
  private readonly jwt: { key: JWTVerifyGetKey; issuer: string | undefined; audience: string | undefined } | undefined
  private readonly verifier: BasicAuthVerifier
  private readonly tunnelId: string
  /** Per-visitor rate limits, checked by the guard before the other rules. */
  readonly visitors: VisitorLimiter | undefined

  /**
   * `verifier` is the server's one basic-auth checker (cache, throttle, hash
   * queue), shared by every tunnel's gate; `tunnelId` keys its throttle and queue.
   */
  constructor(access: TunnelAccess, jwks: JwksCache, verifier: BasicAuthVerifier = new BasicAuthVerifier(), tunnelId = '') {
    this.verifier = verifier
    this.tunnelId = tunnelId
    this.allow = access.allowIps !== undefined ? new CidrList(access.allowIps) : undefined
    this.basicHash = access.basicAuthHash
    this.consumesAuthorization = this.basicHash !== undefined
    this.visitors = access.visitorLimits !== undefined && access.visitorLimits.length > 0 ? new VisitorLimiter(access.visitorLimits, tunnelId) : undefined
    const rule = access.requireJwt
    this.jwt = rule?.jwksUrl !== undefined ? { key: jwks.get(rule.jwksUrl), issuer: rule.issuer, audience: rule.audience } : undefined
  }

  /** A basic-auth or JWT rule: a request it let through carried a credential (what a TCP visitor needs). */
  get authenticates(): boolean {
    return this.basicHash !== undefined || this.jwt !== undefined
  }

  /** Null when the request may go on. */
  async check(req: IncomingMessage, clientIp: string): Promise<Denial | null> {
    if (this.allow !== undefined && !this.allow.matches(clientIp)) return { code: ErrorCode.IP_NOT_ALLOWED, rule: 'IP allow-list' }
    if (this.basicHash !== undefined) {
      const header = req.headers.authorization
      const credentials = basicCredentialsOf(header)
      if (credentials === null) return { code: ErrorCode.AUTH_REQUIRED, headers: BASIC_CHALLENGE, rule: 'basic auth' }
      const verdict = await this.verifier.verify(this.tunnelId, clientIp, credentials, this.basicHash)
      if (verdict.kind === 'wrong') return { code: ErrorCode.AUTH_REQUIRED, headers: BASIC_CHALLENGE, rule: 'basic auth' }
      if (verdict.kind === 'throttled') return { code: ErrorCode.AUTH_THROTTLED, headers: { 'retry-after': String(verdict.retryAfterSec) }, rule: 'basic auth' }
      if (verdict.kind === 'busy') return { code: ErrorCode.AUTH_BUSY, headers: { 'retry-after': String(verdict.retryAfterSec) }, rule: 'basic auth' }
    }
    if (this.jwt !== undefined) {
      const token = /^bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1]
      if (token === undefined) return { code: ErrorCode.AUTH_REQUIRED, headers: BEARER_CHALLENGE, rule: 'bearer JWT' }
      try {
        await jwtVerify(token, this.jwt.key, {
          ...(this.jwt.issuer !== undefined ? { issuer: this.jwt.issuer } : {}),
          ...(this.jwt.audience !== undefined ? { audience: this.jwt.audience } : {}),
        })
      } catch {
        return { code: ErrorCode.AUTH_REQUIRED, headers: { 'www-authenticate': 'Bearer realm="adit tunnel", error="invalid_token"' }, rule: 'bearer JWT' }
      }
    }
    return null
  }
}
