/**
 * Per-visitor rate limits a tunnel's agent asks for (`visitor_limits` in the
 * `access` object of `/register`), enforced by the server so they hold
 * across agents and — with Redis — across instances. Each visitor (client
 * address, IPv6 by /64, or the value of a header such as an API key) has
 * its own token bucket per limit; the first limit whose host and path
 * prefix match applies.
 */
import { createHash } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { BucketTake, RateBuckets, VisitorLimit } from '../../cluster/types.js'
import { AditError, ErrorCode } from '../../errors.js'
import { clientKeyOf } from './failure-throttle.js'

const MAX_LIMITS = 64

function bad(message: string): never {
  throw new AditError(ErrorCode.BAD_REQUEST, 400, `access.visitor_limits: ${message}`)
}

/** Checks the wire form `[{host?, path?, rate_per_sec, burst?, by?}]` into what is stored. */
export function visitorLimitsFromRequest(input: unknown): VisitorLimit[] | undefined {
  if (input === undefined) return undefined
  if (!Array.isArray(input) || input.length === 0 || input.length > MAX_LIMITS) bad(`must be a list of 1–${MAX_LIMITS} limits`)
  return input.map((raw: unknown, i: number): VisitorLimit => {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) bad(`[${i}] must be an object`)
    const entry = raw as Record<string, unknown>
    const rate = entry.rate_per_sec
    if (typeof rate !== 'number' || !(rate > 0) || rate > 1e6) bad(`[${i}].rate_per_sec must be a number above 0`)
    const burst = entry.burst ?? Math.max(1, Math.ceil(rate))
    if (typeof burst !== 'number' || !Number.isInteger(burst) || burst < 1 || burst > 1e6) bad(`[${i}].burst must be a whole number ≥ 1`)
    const by = entry.by ?? 'ip'
    if (typeof by !== 'string' || !(by === 'ip' || /^header:[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/.test(by))) bad(`[${i}].by must be ip or header:<name>`)
    const limit: VisitorLimit = { ratePerSec: rate, burst, by: by === 'ip' ? 'ip' : `header:${by.slice(7).toLowerCase()}` }
    if (entry.host !== undefined) {
      if (typeof entry.host !== 'string' || !/^(\*\.)?[a-z0-9.-]{1,253}$/i.test(entry.host)) bad(`[${i}].host must be a host name or *.domain`)
      limit.host = entry.host.toLowerCase()
    }
    if (entry.path !== undefined) {
      if (typeof entry.path !== 'string' || !entry.path.startsWith('/') || entry.path.length > 1024 || /[\s?#]/.test(entry.path))
        bad(`[${i}].path must be a path prefix starting with /`)
      limit.path = entry.path.length > 1 ? entry.path.replace(/\/+$/, '') : entry.path
    }
    return limit
  })
}

function hostMatches(pattern: string, host: string): boolean {
  return pattern.startsWith('*.') ? host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1 : host === pattern
}

function pathMatches(prefix: string, path: string): boolean {
  if (prefix === '/' || path === prefix) return true
  if (!path.startsWith(prefix)) return false
  const next = path.charCodeAt(prefix.length)
  return next === 0x2f || next === 0x3f
}

function hostOf(req: IncomingMessage, trustProxy: boolean): string {
  const forwarded = trustProxy ? req.headers['x-forwarded-host'] : undefined
  const raw = (Array.isArray(forwarded) ? forwarded[0] : forwarded) ?? req.headers.host ?? ''
  const name = raw.startsWith('[') ? raw.slice(0, raw.indexOf(']') + 1) : raw.replace(/:\d+$/, '')
  return name.toLowerCase()
}

/** The compiled limits of one tunnel. */
export class VisitorLimiter {
  constructor(
    readonly limits: readonly VisitorLimit[],
    private readonly tunnelId: string,
  ) {}

  /**
   * Takes a token from the visitor's bucket of the first matching limit;
   * `{ok: true}` when none matches. `path` is the path the agent sees.
   */
  take(rates: RateBuckets, req: IncomingMessage, clientIp: string, path: string, trustProxy: boolean): Promise<BucketTake> {
    const host = hostOf(req, trustProxy)
    for (const [index, limit] of this.limits.entries()) {
      if (limit.host !== undefined && !hostMatches(limit.host, host)) continue
      if (limit.path !== undefined && !pathMatches(limit.path, path)) continue
      return rates.take(`${this.tunnelId}:${index}:${visitorKey(limit, req, clientIp)}`, limit)
    }
    return Promise.resolve({ ok: true })
  }
}

/** Who the visitor is for `limit`: a header's value (hashed: it may be a credential), else the address. */
function visitorKey(limit: VisitorLimit, req: IncomingMessage, clientIp: string): string {
  if (limit.by !== 'ip') {
    const raw = req.headers[limit.by.slice(7)]
    const value = Array.isArray(raw) ? raw[0] : raw
    if (value !== undefined && value !== '') return `h:${createHash('sha256').update(value).digest('base64url').slice(0, 22)}`
  }
  return `ip:${clientKeyOf(clientIp)}`
}
