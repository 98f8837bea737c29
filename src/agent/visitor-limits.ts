/**
 * Per-visitor rate limits as the agent asks for them: the server enforces
 * them (they travel in the `access` object at registration, like
 * --basic-auth and --allow-ip), so they hold across agents and, with Redis,
 * across server instances. A route's limit becomes one matching that
 * route's host and path prefix; the tunnel's own (`--rate-limit`) comes last
 * and catches the rest. The first matching limit applies.
 *
 * @example
 * parseRateLimit('--rate-limit', '100/m,burst=20,by=header:X-Api-Key')
 * // { rate_per_sec: 1.6666…, burst: 20, by: 'header:X-Api-Key' }
 */
import { ConfigError } from '../errors.js'
import type { TunnelAccessRequest } from './access-flags.js'
import type { RouteSpec } from './routes.js'

export type VisitorLimitRequest = NonNullable<TunnelAccessRequest['visitor_limits']>[number]

const UNIT = { s: 1, m: 60, h: 3600 } as const

/** `10/s`, `100/m`, `1000/h`, then optional `burst=N` and `by=ip|header:<name>`, comma-separated. */
export function parseRateLimit(where: string, text: string): VisitorLimitRequest {
  const [rate, ...options] = text.split(',').map((p) => p.trim())
  const match = /^(\d+(?:\.\d+)?)\/(s|m|h)$/.exec(rate ?? '')
  if (match === null || !(Number(match[1]) > 0))
    throw new ConfigError(`${where} must look like 10/s, 100/m or 1000/h (then ,burst=N ,by=ip|header:Name), got ${JSON.stringify(text)}`)
  const limit: VisitorLimitRequest = { rate_per_sec: Number(match[1]) / UNIT[match[2] as keyof typeof UNIT] }
  for (const option of options) {
    const eq = option.indexOf('=')
    const key = option.slice(0, eq)
    const value = option.slice(eq + 1)
    if (key === 'burst' && /^\d+$/.test(value) && Number(value) >= 1) limit.burst = Number(value)
    else if (key === 'by' && (value === 'ip' || /^header:[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(value))) limit.by = value
    else throw new ConfigError(`${where}: ${JSON.stringify(option)} is not burst=<whole number ≥ 1> or by=ip|header:<name>`)
  }
  limit.burst ??= Math.max(1, Math.ceil(limit.rate_per_sec))
  return limit
}

/** The `visitor_limits` for a tunnel: each route's (with its host and path), then the tunnel's own; undefined when none. */
export function visitorLimitsFor(routes: readonly RouteSpec[] | undefined, tunnel: VisitorLimitRequest | undefined): VisitorLimitRequest[] | undefined {
  const out: VisitorLimitRequest[] = []
  for (const route of routes ?? []) {
    if (route.rateLimit === undefined) continue
    out.push({
      ...(route.host !== undefined ? { host: route.host } : {}),
      ...(route.path !== undefined && route.path !== '/' ? { path: route.path } : {}),
      ...route.rateLimit,
    })
  }
  if (tunnel !== undefined) out.push(tunnel)
  return out.length > 0 ? out : undefined
}

/** `access` with the tunnel's visitor limits added. */
export function withVisitorLimits(access: TunnelAccessRequest | undefined, limits: VisitorLimitRequest[] | undefined): TunnelAccessRequest | undefined {
  if (limits === undefined) return access
  return { ...access, visitor_limits: limits }
}
