import { createHash, timingSafeEqual } from 'node:crypto'
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose'
import { ConfigError } from '../../errors.js'

/** How `POST /register` is guarded. Keys are held only as SHA-256 hashes. */
export interface RegistrationAuthOptions {
  /** Accepted API keys, in clear as configured (`ADIT_API_KEYS`); hashed at construction. */
  apiKeys: string[]
  /** HS256 shared secret for registration JWTs (`ADIT_JWT_SECRET`). */
  jwtSecret: string | undefined
  /** JWKS URL for registration JWTs (`ADIT_JWKS_URL`). */
  jwksUrl: string | undefined
  jwtIssuer: string | undefined
  jwtAudience: string | undefined
  /** Explicit consent to open registration where it is refused by default (Cloud Run). */
  allowOpenRegistration: boolean
}

export type RegistrationVerdict = { ok: true; owner: string | undefined } | { ok: false; reason: string }

const MIN_API_KEY_LENGTH = 12

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex')
}

/**
 * Decides whether a registration may proceed and who owns the new tunnel
 * (`ownerKeyHash`: the API key's hash, or `jwt:` + a hash of iss/sub).
 * Open registration is allowed only when nothing is configured and the
 * server is not on Cloud Run (`K_SERVICE`), or when explicitly allowed.
 */
export class RegistrationAuth {
  readonly open: boolean
  private readonly keyHashes: Buffer[]
  private readonly jwt: { key: Uint8Array | JWTVerifyGetKey; issuer: string | undefined; audience: string | undefined } | undefined

  constructor(options: RegistrationAuthOptions, env: NodeJS.ProcessEnv) {
    this.keyHashes = options.apiKeys.map((key, i) => {
      if (key.length < MIN_API_KEY_LENGTH)
        throw new ConfigError(`ADIT_API_KEYS entry ${i + 1} is ${key.length} characters; use at least ${MIN_API_KEY_LENGTH} random characters`)
      return createHash('sha256').update(key, 'utf8').digest()
    })
    if (options.jwtSecret !== undefined && options.jwksUrl !== undefined) throw new ConfigError('set ADIT_JWT_SECRET or ADIT_JWKS_URL, not both')
    if (options.jwtSecret !== undefined) {
      if (options.jwtSecret.length < 32) throw new ConfigError('ADIT_JWT_SECRET must be at least 32 characters')
      this.jwt = { key: new TextEncoder().encode(options.jwtSecret), issuer: options.jwtIssuer, audience: options.jwtAudience }
    } else if (options.jwksUrl !== undefined) {
      let url: URL
      try {
        url = new URL(options.jwksUrl)
      } catch (cause) {
        throw new ConfigError(`ADIT_JWKS_URL is not a URL: ${options.jwksUrl}`, { cause })
      }
      this.jwt = { key: createRemoteJWKSet(url), issuer: options.jwtIssuer, audience: options.jwtAudience }
    }
    const configured = this.keyHashes.length > 0 || this.jwt !== undefined
    this.open = !configured
    if (!configured && env.K_SERVICE !== undefined && !options.allowOpenRegistration) {
      throw new ConfigError(
        `refusing to start with open registration on Cloud Run (K_SERVICE=${env.K_SERVICE}): anyone could create tunnels on this server. ` +
          'Set ADIT_API_KEYS (or ADIT_JWT_SECRET / ADIT_JWKS_URL), or pass --allow-open-registration / ADIT_ALLOW_OPEN_REGISTRATION=true if that is really intended',
      )
    }
  }

  async authenticate(authorization: string | undefined): Promise<RegistrationVerdict> {
    if (this.open) return { ok: true, owner: undefined }
    const token = /^bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1]
    if (token === undefined) return { ok: false, reason: 'missing Authorization: Bearer <API key or token>' }
    if (this.keyHashes.length > 0) {
      const presented = createHash('sha256').update(token, 'utf8').digest()
      let match: Buffer | undefined
      // Every key is compared, match or not: the time taken says nothing about which.
      for (const hash of this.keyHashes) if (timingSafeEqual(hash, presented)) match = hash
      if (match !== undefined) return { ok: true, owner: match.toString('hex') }
    }
    if (this.jwt !== undefined && token.split('.').length === 3) {
      try {
        const { payload } = await jwtVerify(token, this.jwt.key as Parameters<typeof jwtVerify>[1], {
          ...(this.jwt.issuer !== undefined ? { issuer: this.jwt.issuer } : {}),
          ...(this.jwt.audience !== undefined ? { audience: this.jwt.audience } : {}),
          ...(this.jwt.key instanceof Uint8Array ? { algorithms: ['HS256'] } : {}),
        })
        return { ok: true, owner: `jwt:${sha256Hex(`${payload.iss ?? ''}\0${payload.sub ?? ''}`)}` }
      } catch {
        return { ok: false, reason: 'token rejected' }
      }
    }
    return { ok: false, reason: 'API key or token rejected' }
  }
}
