import type { TunnelRecord } from '../../cluster/types.js'
import type { Credentials } from '../credentials.js'

/**
 * Checks a tunnel secret against its record: the current generation, or the
 * previous one while its grace period (`previousGenerationUntil`) lasts.
 * Every accepted signing key is tried inside `Credentials.verify` (constant time).
 */
export function verifyTunnelSecret(credentials: Credentials, id: string, secret: string, record: TunnelRecord | null, now: number): boolean {
  const generation = record?.secretGeneration ?? 0
  let ok = credentials.verify(id, secret, generation)
  if (generation > 0 && record?.previousGenerationUntil !== undefined && record.previousGenerationUntil > now) {
    // Evaluated whether or not the current one matched: no early exit to time.
    if (credentials.verify(id, secret, generation - 1)) ok = true
  }
  return ok
}

/** The secret of `Authorization: Bearer <secret>`, or null. */
export function bearerOf(header: string | undefined): string | null {
  const match = /^bearer\s+(\S+)\s*$/i.exec(header ?? '')
  return match ? match[1]! : null
}
