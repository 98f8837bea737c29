/**
 * The server dashboard: `GET /dashboard` (a page) and `GET /dashboard/api`
 * (JSON) — tunnels on this instance, their agent connections, the live
 * request rate of each, and the last requests with the route they took and
 * the rule that answered them (recent-requests.ts). Guarded by the admin token (see admin-auth.ts); with
 * no token configured the routes do not exist (the server answers 404).
 *
 * The server calls `handleDashboard(req, res)` first for every request
 * (true: answered) and `recordExchange(summary)` for every finished public
 * request.
 *
 * @example
 * const dashboard = createDashboard({ adminToken: process.env.ADIT_ADMIN_TOKEN, registry })
 * server.on('request', (req, res) => { if (!dashboard.handleDashboard(req, res)) route(req, res) })
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { ConfigError, ErrorCode, publicErrors } from '../../errors.js'
import type { FailureThrottle } from '../security/failure-throttle.js'
import { checkAdmin } from './admin-auth.js'
import { RecentRequests, type RecentInput } from './recent-requests.js'
import { RequestRates, type RequestRatesOptions } from './request-rate.js'
import { dashboardSnapshot, type DashboardRegistry } from './snapshot.js'
import { dashboardPage, dashboardScript, dashboardStyle } from './ui.js'
import { firstHeaderValue } from '../../http/header-value.js'

export interface DashboardOptions {
  /** ADIT_ADMIN_TOKEN; undefined or empty turns the dashboard off. */
  adminToken: string | undefined
  registry: DashboardRegistry | undefined
  /** Trust X-Forwarded-Proto to decide whether the cookie is Secure. */
  trustProxy: boolean
  rates: Partial<RequestRatesOptions>
  /** Finished requests kept for the "recent requests" table. */
  recentRequests: number
  /** The clock (tests pass their own). */
  now: () => number
  /** Back-off for wrong admin tokens, shared with `DELETE /tunnels/{id}`; undefined = none. */
  throttle: FailureThrottle | undefined
  /** The throttle key of a request (its client address). */
  clientKey: (req: IncomingMessage) => string
}

export const dashboardDefaults: DashboardOptions = {
  adminToken: undefined,
  registry: undefined,
  trustProxy: false,
  rates: {},
  recentRequests: 50,
  now: Date.now,
  throttle: undefined,
  clientKey: (req) => req.socket.remoteAddress ?? '',
}

export interface Dashboard {
  /** Answers /dashboard, /dashboard/api and its assets; false for any other path (or when off). */
  handleDashboard(req: IncomingMessage, res: ServerResponse): boolean
  /** One finished public request (the server's exchange summary). */
  recordExchange(summary: RecentInput): void
  readonly rates: RequestRates
}

function badOption(name: string, expected: string, value: unknown): ConfigError {
  return new ConfigError(`dashboard option ${name} must be ${expected}, got ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`)
}

export function validateDashboardOptions(input: Partial<DashboardOptions>): DashboardOptions & { registry: DashboardRegistry } {
  const options = { ...dashboardDefaults, ...input }
  if (options.adminToken !== undefined && typeof options.adminToken !== 'string') throw badOption('adminToken', 'a string', options.adminToken)
  if (typeof options.adminToken === 'string' && options.adminToken !== '' && options.adminToken.length < 16) {
    throw badOption('adminToken', 'at least 16 characters (it guards every tunnel on the server)', `${options.adminToken.length} characters`)
  }
  if (options.registry === undefined || typeof options.registry.connections !== 'function') throw badOption('registry', 'the tunnel registry', options.registry)
  if (typeof options.now !== 'function') throw badOption('now', 'a function', options.now)
  if (!Number.isInteger(options.recentRequests) || options.recentRequests < 0 || options.recentRequests > 10_000)
    throw badOption('recentRequests', 'a whole number from 0 to 10000', options.recentRequests)
  return options as DashboardOptions & { registry: DashboardRegistry }
}

const securityHeaders = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
}

const pageHeaders = {
  ...securityHeaders,
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
}

function send(res: ServerResponse, status: number, contentType: string, body: string, headers: Record<string, string>): void {
  res.writeHead(status, { ...headers, 'content-type': contentType, 'content-length': Buffer.byteLength(body) })
  res.end(body)
}

export function createDashboard(input: Partial<DashboardOptions>): Dashboard {
  const options = validateDashboardOptions(input)
  const rates = new RequestRates(options.rates)
  const recent = new RecentRequests(options.recentRequests)
  const token = options.adminToken === '' ? undefined : options.adminToken

  const assets: Record<string, { type: string; body: string }> = {
    '/dashboard': { type: 'text/html; charset=utf-8', body: dashboardPage },
    '/dashboard/': { type: 'text/html; charset=utf-8', body: dashboardPage },
    '/dashboard/app.js': { type: 'text/javascript; charset=utf-8', body: dashboardScript },
    '/dashboard/app.css': { type: 'text/css; charset=utf-8', body: dashboardStyle },
  }

  function handleDashboard(req: IncomingMessage, res: ServerResponse): boolean {
    const raw = req.url ?? '/'
    if (token === undefined || !(raw === '/dashboard' || raw.startsWith('/dashboard/') || raw.startsWith('/dashboard?'))) return false
    const url = new URL(raw, 'http://dashboard.invalid')
    const asset = assets[url.pathname]
    if (asset === undefined && url.pathname !== '/dashboard/api') return false
    const method = req.method ?? 'GET'
    if (method !== 'GET' && method !== 'HEAD') {
      send(res, 405, 'text/plain; charset=utf-8', 'the dashboard is read-only: use GET\n', { ...securityHeaders, allow: 'GET, HEAD' })
      return true
    }
    const secure =
      (req.socket as { encrypted?: boolean }).encrypted === true || (options.trustProxy && firstHeaderValue(req.headers['x-forwarded-proto']) === 'https')
    const throttle = options.throttle
    const key = throttle === undefined ? '' : options.clientKey(req)
    const attempt = throttle?.begin(key)
    if (attempt !== undefined && !attempt.ok) {
      const { text } = publicErrors[ErrorCode.AUTH_THROTTLED]
      send(res, 429, 'text/plain; charset=utf-8', `429 ${text}\n`, {
        ...securityHeaders,
        'retry-after': String(attempt.retryAfterSec),
        'x-adit-error': ErrorCode.AUTH_THROTTLED,
      })
      return true
    }
    const check = checkAdmin(req, url, token, secure)
    if (check.kind === 'denied' && !check.presented) throttle?.cancel(key)
    else throttle?.end(key, check.kind !== 'denied')
    if (check.kind === 'redirect') {
      res.writeHead(303, { ...securityHeaders, location: check.location, 'set-cookie': check.cookie, 'content-length': 0 })
      res.end()
      return true
    }
    if (check.kind === 'denied') {
      send(res, 401, 'text/plain; charset=utf-8', 'admin token required: open /dashboard?token=<ADIT_ADMIN_TOKEN> or send Authorization: Bearer <token>\n', {
        ...securityHeaders,
        'www-authenticate': 'Bearer realm="adit dashboard"',
      })
      return true
    }
    if (asset !== undefined) {
      send(res, 200, asset.type, asset.body, pageHeaders)
      return true
    }
    send(res, 200, 'application/json; charset=utf-8', JSON.stringify(dashboardSnapshot(options.registry, rates, recent, options.now())), securityHeaders)
    return true
  }

  return {
    handleDashboard,
    recordExchange(summary) {
      const now = options.now()
      rates.record(summary.tunnelId, now, summary.status)
      recent.record(summary, now)
    },
    rates,
  }
}
