import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { ConfigError } from '../errors.js'

/**
 * Tunnel credentials verifiable without storage (design, "State"):
 * - a tunnel id is 6 random bytes + a 4-byte MAC under the signing key,
 *   written in lowercase base32 (16 characters, DNS-label safe), so any
 *   instance tells a real id from a guessed one;
 * - the secret is HMAC-SHA256(key, id, generation, binding): 256 bits, stored
 *   nowhere, compared in constant time. The binding (security/tunnel-secret.ts)
 *   ties it to one registration and its access rules; records made before
 *   bindings existed have none, and keep their HMAC(key, id, generation).
 * Several keys are accepted (rotation); the first one signs new ids.
 */

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567'
const ID_RANDOM_BYTES = 6
const ID_MAC_BYTES = 4
export const ID_LENGTH = 16
const MIN_KEY_LENGTH = 32

export class Credentials {
  private readonly keys: Buffer[]
  /** True when no key was configured and one was made at start. */
  readonly ephemeral: boolean

  constructor(keys: string[] | undefined) {
    if (keys === undefined || keys.length === 0) {
      this.keys = [randomBytes(32)]
      this.ephemeral = true
      return
    }
    this.keys = keys.map((key, i) => {
      if (key.length < MIN_KEY_LENGTH) {
        throw new ConfigError(
          `ADIT_SIGNING_KEY entry ${i + 1} is ${key.length} characters; use at least ${MIN_KEY_LENGTH} random characters (e.g. openssl rand -base64 48)`,
        )
      }
      return Buffer.from(key, 'utf8')
    })
    this.ephemeral = false
  }

  newTunnelId(): string {
    const random = randomBytes(ID_RANDOM_BYTES)
    return base32(Buffer.concat([random, this.idMac(this.keys[0]!, random)]))
  }

  /** True when `id` carries a valid MAC under one of the keys (cheap, no storage). */
  isSignedId(id: string): boolean {
    if (id.length !== ID_LENGTH) return false
    const bytes = unbase32(id)
    if (bytes === null) return false
    const random = bytes.subarray(0, ID_RANDOM_BYTES)
    const mac = bytes.subarray(ID_RANDOM_BYTES)
    for (const key of this.keys) {
      if (timingSafeEqual(this.idMac(key, random), mac)) return true
    }
    return false
  }

  /** The secret for a tunnel id under the current key. */
  secretFor(id: string, generation = 0, binding?: string): string {
    return this.secret(this.keys[0]!, id, generation, binding).toString('base64url')
  }

  /** Constant-time check of a presented secret against every accepted key. */
  verify(id: string, presented: string, generation = 0, binding?: string): boolean {
    const candidate = Buffer.from(presented, 'utf8')
    let ok = false
    for (const key of this.keys) {
      const expected = Buffer.from(this.secret(key, id, generation, binding).toString('base64url'), 'utf8')
      if (candidate.length === expected.length && timingSafeEqual(candidate, expected)) ok = true
    }
    return ok
  }

  /** The secret under every accepted key (the first: the current one), for checks of what is derived from it. */
  secretsFor(id: string, generation = 0, binding?: string): string[] {
    return this.keys.map((key) => this.secret(key, id, generation, binding).toString('base64url'))
  }

  private idMac(key: Buffer, random: Buffer): Buffer {
    return createHmac('sha256', key).update('adit-id\0').update(random).digest().subarray(0, ID_MAC_BYTES)
  }

  private secret(key: Buffer, id: string, generation: number, binding: string | undefined): Buffer {
    const mac = createHmac('sha256', key).update(`adit-secret\0${id}\0${generation}`)
    if (binding !== undefined) mac.update(`\0adit-binding\0${binding}`)
    return mac.digest()
  }
}

function base32(bytes: Buffer): string {
  let out = ''
  let bits = 0
  let value = 0
  for (const byte of bytes) {
    value = (value << 8) | byte
    bits += 8
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31]
  return out
}

function unbase32(text: string): Buffer | null {
  const out: number[] = []
  let bits = 0
  let value = 0
  for (const ch of text) {
    const v = ALPHABET.indexOf(ch)
    if (v === -1) return null
    value = ((value << 5) | v) & 0xffff
    bits += 5
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff)
      bits -= 8
    }
  }
  return Buffer.from(out)
}
