import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { visitorTokenFor } from '../../exchange/visitor-token.js'
import type { TunnelAccess, TunnelRecord } from '../../cluster/types.js'
import type { Credentials } from '../credentials.js'

/**
 * What a tunnel's secret is bound to besides its id and generation: the
 * record's random nonce (a name registered again after its record was lost
 * gets a different secret from the owner's) and a digest of its name and
 * access rules (a record that lost or weakened its rules no longer matches
 * the secret its agent holds, so that agent is refused instead of served
 * with weaker rules). Undefined for records made before nonces existed:
 * their secrets are HMAC(id, generation) as before.
 */
export function secretBinding(record: Pick<TunnelRecord, 'nonce' | 'name' | 'access'>): string | undefined {
  if (record.nonce === undefined) return undefined
  return `${record.nonce}\0${termsDigest(record.name, record.access)}`
}

/** A fresh record nonce: 128 random bits. */
export function newNonce(): string {
  return randomBytes(16).toString('base64url')
}

/** SHA-256 of the canonical JSON of a tunnel's name and stored access rules. */
export function termsDigest(name: string | undefined, access: TunnelAccess | undefined): string {
  return createHash('sha256')
    .update(canonicalJson({ name: name ?? null, access: access ?? null }))
    .digest('base64url')
}

/** JSON with object keys sorted at every level: the same rules always give the same digest. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
  }
  return JSON.stringify(value)
}

/**
 * Checks a tunnel secret against its record: the current generation, or the
 * previous one while its grace period (`previousGenerationUntil`) lasts.
 * No record, no tunnel: a server that cannot read a tunnel's record cannot
 * know its rules, generation or revocation, so it never accepts its secret.
 * Every accepted signing key is tried inside `Credentials.verify` (constant time).
 */
export function verifyTunnelSecret(credentials: Credentials, id: string, secret: string, record: TunnelRecord | null, now: number): boolean {
  if (record === null) return false
  const generation = record.secretGeneration
  const binding = secretBinding(record)
  let ok = credentials.verify(id, secret, generation, binding)
  if (generation > 0 && record.previousGenerationUntil !== undefined && record.previousGenerationUntil > now) {
    // Evaluated whether or not the current one matched: no early exit to time.
    if (credentials.verify(id, secret, generation - 1, binding)) ok = true
  }
  return ok
}

/**
 * Checks a TCP visitor's token (exchange/visitor-token.ts) against the
 * tunnel's record, like `verifyTunnelSecret`: the token of the current
 * secret under any accepted key, or of the previous generation while its
 * grace period lasts. Constant time per candidate; no record, no tunnel.
 */
export function verifyVisitorToken(credentials: Credentials, id: string, token: string, record: TunnelRecord | null, now: number): boolean {
  if (record === null) return false
  const binding = secretBinding(record)
  const generations = [record.secretGeneration]
  if (record.secretGeneration > 0 && record.previousGenerationUntil !== undefined && record.previousGenerationUntil > now)
    generations.push(record.secretGeneration - 1)
  const presented = Buffer.from(token, 'utf8')
  let ok = false
  for (const generation of generations) {
    for (const secret of credentials.secretsFor(id, generation, binding)) {
      const expected = Buffer.from(visitorTokenFor(id, secret), 'utf8')
      if (presented.length === expected.length && timingSafeEqual(presented, expected)) ok = true
    }
  }
  return ok
}

/** The secret of `Authorization: Bearer <secret>`, or null. */
export function bearerOf(header: string | undefined): string | null {
  const match = /^bearer\s+(\S+)\s*$/i.exec(header ?? '')
  return match ? match[1]! : null
}
