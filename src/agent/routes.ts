/**
 * Many local origins behind one tunnel: an ordered table of routes, matched
 * first to last by the public host and a path prefix. Routes belong to the
 * agent — the server never sees them and cannot add one — so the agent still
 * connects only to the origins it was started with.
 *
 * The table always ends with a catch-all (no host, path `/`): the configured
 * one, `--local` when it is given explicitly, or an implicit `404`.
 *
 * @example
 * const table = buildRouteTable([{ path: '/api', local: 'http://127.0.0.1:4000' }, { path: '/', local: 'http://127.0.0.1:3000' }])
 * table.match('example.test', '/api/users').local?.origin // 'http://127.0.0.1:4000'
 */
import { ConfigError } from '../errors.js'
import type { HostHeaderMode } from './config.js'
import { compileHeaderRules, type HeaderRules, type HeaderRulesSpec } from './header-rules.js'
import type { VisitorLimitRequest } from './visitor-limits.js'
import { localSchemes, originOf } from './local-target.js'
import { compileWebhook, type WebhookCheck, type WebhookSpec } from './webhooks.js'

/** One route as a user writes it (flag, config file or library call). */
export interface RouteSpec {
  /** Public host this route answers: `app.example.com`, or `*.example.com` for any subdomain. Any host when absent. */
  host?: string
  /** Path prefix, matched on whole segments (`/api` matches `/api`, `/api/x`, `/api?q`, not `/apix`). Default `/`. */
  path?: string
  /** The local origin (scheme://host:port). Absent: the route answers `status` itself. */
  local?: string
  /** With no `local`: the status the route answers (default 404). */
  status?: number
  /** Host header the local service sees; the tunnel's `hostHeader` when absent. */
  hostHeader?: HostHeaderMode
  /** Accept a self-signed certificate from this route's https:// origin. */
  localInsecure?: boolean
  /** Time this route's service has to send its response head (ms); the server's deadline still applies. */
  responseTimeoutMs?: number
  /** Remove the matched prefix before the request reaches the service (`/api/users` → `/users`). */
  stripPrefix?: boolean
  /** Header rules for the request the service sees (header-rules.ts). */
  requestHeaders?: HeaderRulesSpec
  /** Header rules for the response the visitor sees. */
  responseHeaders?: HeaderRulesSpec
  /** Verify a webhook signature before the request reaches the service (webhooks.ts). */
  webhook?: WebhookSpec
  /** A per-visitor rate limit for this route, enforced by the server (visitor-limits.ts). */
  rateLimit?: VisitorLimitRequest
}

/** A checked route. */
export interface Route {
  /** Position in the table (0-based); the implicit catch-all has the last one. */
  index: number
  /** Short text for logs and the inspector: `api.example.com/api → http://127.0.0.1:4000`. */
  label: string
  /** Lowercase exact host, or a `.example.com` suffix for `*.example.com`; undefined: any. */
  host: string | undefined
  wildcard: boolean
  /** Normalised prefix: `/` or without a trailing slash. */
  path: string
  /** Undefined when the route answers by itself. */
  local: URL | undefined
  status: number
  hostHeader: HostHeaderMode | undefined
  localInsecure: boolean
  responseTimeoutMs: number | undefined
  stripPrefix: boolean
  requestRules: HeaderRules | undefined
  responseRules: HeaderRules | undefined
  webhook: WebhookCheck | undefined
  /** True for the route added because none was configured. */
  implicit: boolean
}

function localUrl(where: string, value: string): URL {
  let url: URL
  try {
    url = new URL(value)
  } catch (cause) {
    throw new ConfigError(`${where}: local is not a URL: ${value}`, { cause })
  }
  if (!localSchemes.has(url.protocol)) throw new ConfigError(`${where}: local must be http://, https:// or h2c://, got ${url.protocol}`)
  // A scheme URL does not know (h2c:) keeps an empty path where http: has '/'.
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '')
    throw new ConfigError(`${where}: local must be an origin (scheme://host:port) without a path, got ${value}`)
  return url
}

function normalisePath(where: string, value: string): string {
  if (!value.startsWith('/') || /[\s?#]/.test(value))
    throw new ConfigError(`${where}: path must start with / and hold no spaces, ? or #, got ${JSON.stringify(value)}`)
  return value.length > 1 && value.endsWith('/') ? value.replace(/\/+$/, '') || '/' : value
}

function normaliseHost(where: string, value: string): { host: string; wildcard: boolean } {
  const lower = value.trim().toLowerCase()
  const wildcard = lower.startsWith('*.')
  const name = wildcard ? lower.slice(1) : lower
  if (!/^\.?[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?$/.test(name) || name.includes('..'))
    throw new ConfigError(`${where}: host must be a host name or *.domain, without port or scheme, got ${JSON.stringify(value)}`)
  return { host: name, wildcard }
}

function labelOf(spec: { host: string | undefined; wildcard: boolean; path: string; local: URL | undefined; status: number }): string {
  const host = spec.host === undefined ? '' : spec.wildcard ? `*${spec.host}` : spec.host
  return `${host}${spec.path} → ${spec.local === undefined ? String(spec.status) : originOf(spec.local)}`
}

/** Checks one route, naming it (`route 2`) in errors. */
export function checkRoute(spec: RouteSpec, index: number, where = `route ${index + 1}`): Route {
  const path = normalisePath(where, spec.path ?? '/')
  const host = spec.host === undefined ? undefined : normaliseHost(where, spec.host)
  const local = spec.local === undefined ? undefined : localUrl(where, spec.local)
  if (local !== undefined && spec.status !== undefined) throw new ConfigError(`${where}: give local or status, not both`)
  const status = spec.status ?? 404
  if (!Number.isInteger(status) || status < 200 || status > 599)
    throw new ConfigError(`${where}: status must be an HTTP status (200–599), got ${String(spec.status)}`)
  const timeout = spec.responseTimeoutMs
  if (timeout !== undefined && (!Number.isInteger(timeout) || timeout < 1)) throw new ConfigError(`${where}: responseTimeout must be a positive duration`)
  if (
    local === undefined &&
    (spec.hostHeader !== undefined ||
      spec.localInsecure !== undefined ||
      timeout !== undefined ||
      spec.requestHeaders !== undefined ||
      spec.responseHeaders !== undefined)
  )
    throw new ConfigError(`${where}: hostHeader, localInsecure, responseTimeout, header rules and webhook need a local origin`)
  const route: Route = {
    index,
    label: '',
    host: host?.host,
    wildcard: host?.wildcard ?? false,
    path,
    local,
    status,
    hostHeader: spec.hostHeader,
    localInsecure: spec.localInsecure === true,
    responseTimeoutMs: timeout,
    stripPrefix: spec.stripPrefix === true,
    requestRules: compileHeaderRules(`${where}.request_headers`, spec.requestHeaders, 'request'),
    responseRules: compileHeaderRules(`${where}.response_headers`, spec.responseHeaders, 'response'),
    webhook: spec.webhook === undefined ? undefined : compileWebhook(`${where}.webhook`, spec.webhook),
    implicit: false,
  }
  route.label = labelOf(route)
  return route
}

function isCatchAll(route: Route): boolean {
  return route.host === undefined && route.path === '/'
}

/**
 * `--route /api=http://127.0.0.1:4000`, `--route app.example.com/=http://127.0.0.1:3000`,
 * `--route /old=410`: `[host]path=origin-or-status`.
 */
export function parseRouteFlag(value: string): RouteSpec {
  const eq = value.indexOf('=')
  if (eq < 1) throw new ConfigError(`--route takes [host]/path=http://host:port (or =status), got ${JSON.stringify(value)}`)
  const match = value.slice(0, eq)
  const target = value.slice(eq + 1)
  const slash = match.indexOf('/')
  if (slash < 0) throw new ConfigError(`--route ${JSON.stringify(value)}: the part before = needs a path (/api, or app.example.com/)`)
  const spec: RouteSpec = { path: match.slice(slash) }
  if (slash > 0) spec.host = match.slice(0, slash)
  if (/^\d{3}$/.test(target)) spec.status = Number(target)
  else spec.local = target
  return spec
}

/** The first route that takes a request; the table's last route takes every one. */
export class RouteTable {
  readonly routes: readonly Route[]
  /** Every distinct local origin (with its TLS policy) the table can reach: the only places the agent connects to. */
  readonly origins: ReadonlyArray<{ key: string; url: URL; insecure: boolean }>
  private readonly anyHost: boolean

  constructor(routes: readonly Route[]) {
    if (routes.length === 0 || !isCatchAll(routes[routes.length - 1]!))
      throw new ConfigError('the route table must end with a catch-all route (path /, no host)')
    this.routes = routes
    const origins = new Map<string, { key: string; url: URL; insecure: boolean }>()
    for (const route of routes) {
      if (route.local === undefined) continue
      const key = originKey(route)
      if (!origins.has(key)) origins.set(key, { key, url: route.local, insecure: route.localInsecure })
    }
    this.origins = [...origins.values()]
    this.anyHost = routes.every((r) => r.host === undefined)
  }

  /** Has a route more than the one catch-all to its single origin (what a plain `--local` tunnel has). */
  get single(): boolean {
    return this.routes.length === 1
  }

  /**
   * The route for a request. `host` is the public host (port allowed, any
   * case); `path` is the path and query the server sent.
   */
  match(host: string | undefined, path: string): Route {
    const routes = this.routes
    const name = this.anyHost || host === undefined ? '' : hostName(host)
    for (let i = 0; i < routes.length - 1; i++) {
      const route = routes[i]!
      if (route.host !== undefined) {
        if (route.wildcard ? !(name.endsWith(route.host) && name.length > route.host.length) : name !== route.host) continue
      }
      if (prefixMatches(route.path, path)) return route
    }
    return routes[routes.length - 1]!
  }
}

/** The key that decides whether two routes share a connection pool. */
export function originKey(route: Route): string {
  return `${originOf(route.local!)} ${route.localInsecure ? 'insecure' : 'verify'}`
}

function hostName(host: string): string {
  let end = host.length
  if (host.startsWith('[')) {
    const close = host.indexOf(']')
    end = close < 0 ? end : close + 1
  } else {
    const colon = host.lastIndexOf(':')
    if (colon >= 0) end = colon
  }
  return host.slice(0, end).toLowerCase()
}

function prefixMatches(prefix: string, path: string): boolean {
  if (prefix === '/') return true
  if (!path.startsWith(prefix)) return false
  if (path.length === prefix.length) return true
  const next = path.charCodeAt(prefix.length)
  return next === 0x2f /* / */ || next === 0x3f /* ? */
}

/** The prefix a `stripPrefix` route removes on the way in (and puts back on Location and cookie paths on the way out); '' for none. */
export function strippedPrefix(route: Route): string {
  return route.stripPrefix && route.path !== '/' ? route.path : ''
}

/** The path the service sees under a `stripPrefix` route: `/api/users?x` → `/users?x`, `/api` → `/`. */
export function stripRoutePrefix(route: Route, path: string): string {
  if (strippedPrefix(route) === '') return path
  const rest = path.slice(route.path.length)
  return rest === '' ? '/' : rest.startsWith('?') ? `/${rest}` : rest
}

/**
 * The table for a tunnel: the configured routes, then `fallback` (an origin,
 * e.g. an explicit `--local`) as the catch-all, else an implicit 404. A
 * route after a catch-all can never match and is refused.
 */
export function buildRouteTable(specs: readonly RouteSpec[], fallback?: { local: string; hostHeader?: HostHeaderMode; localInsecure?: boolean }): RouteTable {
  const routes = specs.map((spec, i) => checkRoute(spec, i))
  const catchAll = routes.findIndex(isCatchAll)
  if (catchAll >= 0 && catchAll < routes.length - 1)
    throw new ConfigError(`route ${catchAll + 1} (${routes[catchAll]!.label}) catches every request, so the routes after it can never match; put it last`)
  if (catchAll < 0) {
    const last = fallback === undefined ? checkRoute({}, routes.length, 'the catch-all') : checkRoute({ path: '/', ...fallback }, routes.length, '--local')
    last.implicit = fallback === undefined
    routes.push(last)
  }
  return new RouteTable(routes)
}
