import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto'

/**
 * Public basic auth per tunnel. The password is kept only as
 * `scrypt$N$r$p$<salt b64url>$<hash b64url>`: a store (Redis) never holds it
 * in clear. Verification runs scrypt on libuv's pool, so it never blocks the
 * event loop.
 */

const KEY_LENGTH = 32
const PARAMS = { N: 16384, r: 8, p: 1 } as const

function scryptAsync(password: string, salt: Buffer, params: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, KEY_LENGTH, { ...params, maxmem: 64 * 1024 * 1024 }, (error, key) => (error ? reject(error) : resolve(key)))
  })
}

/** `user:password` → a string safe to store. */
export async function hashCredentials(userColonPassword: string): Promise<string> {
  const salt = randomBytes(16)
  const hash = await scryptAsync(userColonPassword, salt, PARAMS)
  return `scrypt$${PARAMS.N}$${PARAMS.r}$${PARAMS.p}$${salt.toString('base64url')}$${hash.toString('base64url')}`
}

/** Constant-time check of presented `user:password` against a stored hash; false for a malformed hash. */
export async function verifyCredentials(userColonPassword: string, stored: string): Promise<boolean> {
  const parts = stored.split('$')
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false
  const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])]
  if (![N, r, p].every((n) => Number.isInteger(n) && n > 0) || N > 1 << 20) return false
  const salt = Buffer.from(parts[4]!, 'base64url')
  const expected = Buffer.from(parts[5]!, 'base64url')
  if (expected.length !== KEY_LENGTH) return false
  const actual = await scryptAsync(userColonPassword, salt, { N, r, p })
  return timingSafeEqual(actual, expected)
}

/** The `user:password` of an `Authorization: Basic …` header, or null. */
export function basicCredentialsOf(header: string | undefined): string | null {
  if (header === undefined) return null
  const match = /^basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header)
  if (!match) return null
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8')
  return decoded.includes(':') ? decoded : null
}
