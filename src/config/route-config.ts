/**
 * The `routes:` list of the agent's config file (top level for one tunnel,
 * or inside an entry of `tunnels:`) and the `--route` flag, checked into the
 * agent's RouteSpec form. Keys may be snake_case, kebab-case or camelCase.
 *
 * @example
 * routes:
 *   - host: api.example.com
 *     local: http://127.0.0.1:4000
 *   - path: /hooks/github
 *     local: http://127.0.0.1:5000
 *     webhook: { provider: github, secret_env: GITHUB_WEBHOOK_SECRET }
 *   - path: /static
 *     local: http://127.0.0.1:8081
 *     strip_prefix: true
 *     response_timeout: 5s
 *   - path: /
 *     local: http://127.0.0.1:3000
 *     request_headers:
 *       set: { X-Client-IP: '${client_ip}' }
 *       remove: [Cookie]
 *     response_headers:
 *       add: { X-Request-Id: '${request_id}' }
 */
import { parseHostHeader } from '../agent/config.js'
import type { HeaderRulesSpec } from '../agent/header-rules.js'
import { parseRouteFlag, type RouteSpec } from '../agent/routes.js'
import { parseRateLimit } from '../agent/visitor-limits.js'
import type { WebhookSpec } from '../agent/webhooks.js'
import { ConfigError } from '../errors.js'
import { parseBytes, parseDuration } from './parse.js'

const routeKeys = new Set([
  'host',
  'path',
  'local',
  'status',
  'hostHeader',
  'localInsecure',
  'responseTimeout',
  'stripPrefix',
  'requestHeaders',
  'responseHeaders',
  'webhook',
  'rateLimit',
])
const webhookKeys = new Set(['provider', 'secret', 'secretEnv', 'header', 'encoding', 'prefix', 'tolerance', 'maxBody'])

function camel(key: string): string {
  return key.replace(/[-_]([a-z])/g, (_m, c: string) => c.toUpperCase())
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function text(where: string, key: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') throw new ConfigError(`${where}.${key} must be a non-empty string, got ${JSON.stringify(value)}`)
  return value
}

function flag(where: string, key: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new ConfigError(`${where}.${key} must be true or false, got ${JSON.stringify(value)}`)
  return value
}

/** One entry of `routes:`; `where` names it in errors (`config file x: routes[1]`). */
export function routeFromConfig(where: string, raw: unknown): RouteSpec {
  if (!isRecord(raw)) throw new ConfigError(`${where} must be a mapping with path: and/or host:, and local: (or status:)`)
  const value: Record<string, unknown> = {}
  for (const [key, v] of Object.entries(raw)) value[camel(key)] = v
  for (const key of Object.keys(value))
    if (!routeKeys.has(key)) throw new ConfigError(`${where} has an unknown key ${JSON.stringify(key)} (known: ${[...routeKeys].join(', ')})`)
  const spec: RouteSpec = {}
  if (value.host !== undefined) spec.host = text(where, 'host', value.host)
  if (value.path !== undefined) spec.path = text(where, 'path', value.path)
  if (value.local !== undefined) spec.local = text(where, 'local', value.local)
  if (value.status !== undefined) {
    if (typeof value.status !== 'number') throw new ConfigError(`${where}.status must be a number (404, 410 …)`)
    spec.status = value.status
  }
  if (value.hostHeader !== undefined) spec.hostHeader = parseHostHeader(text(where, 'host_header', value.hostHeader))
  if (value.localInsecure !== undefined) spec.localInsecure = flag(where, 'local_insecure', value.localInsecure)
  if (value.stripPrefix !== undefined) spec.stripPrefix = flag(where, 'strip_prefix', value.stripPrefix)
  if (value.responseTimeout !== undefined) {
    const t = value.responseTimeout
    spec.responseTimeoutMs = parseDuration(`${where}.response_timeout`, typeof t === 'number' ? String(t) : text(where, 'response_timeout', t))
  }
  // Header names stay as written (they are not settings keys); compileHeaderRules checks them.
  if (value.requestHeaders !== undefined) spec.requestHeaders = rulesAt(where, 'request_headers', value.requestHeaders)
  if (value.responseHeaders !== undefined) spec.responseHeaders = rulesAt(where, 'response_headers', value.responseHeaders)
  if (value.rateLimit !== undefined) spec.rateLimit = parseRateLimit(`${where}.rate_limit`, text(where, 'rate_limit', value.rateLimit))
  if (value.webhook !== undefined) spec.webhook = webhookAt(`${where}.webhook`, value.webhook)
  if (spec.local === undefined && spec.status === undefined) throw new ConfigError(`${where} needs local: (an origin) or status: (an answer)`)
  return spec
}

function rulesAt(where: string, key: string, value: unknown): HeaderRulesSpec {
  if (!isRecord(value)) throw new ConfigError(`${where}.${key} must be a mapping with add:, set: and/or remove:`)
  return value as HeaderRulesSpec
}

function webhookAt(where: string, raw: unknown): WebhookSpec {
  if (!isRecord(raw)) throw new ConfigError(`${where} must be a mapping with provider: and secret: (or secret_env:)`)
  const value: Record<string, unknown> = {}
  for (const [key, v] of Object.entries(raw)) value[camel(key)] = v
  for (const key of Object.keys(value))
    if (!webhookKeys.has(key)) throw new ConfigError(`${where} has an unknown key ${JSON.stringify(key)} (known: ${[...webhookKeys].join(', ')})`)
  const spec: WebhookSpec = { provider: text(where, 'provider', value.provider) as WebhookSpec['provider'] }
  if (value.secret !== undefined) spec.secret = text(where, 'secret', value.secret)
  if (value.secretEnv !== undefined) spec.secretEnv = text(where, 'secret_env', value.secretEnv)
  if (value.header !== undefined) spec.header = text(where, 'header', value.header)
  if (value.encoding !== undefined) spec.encoding = text(where, 'encoding', value.encoding) as WebhookSpec['encoding']
  if (value.prefix !== undefined) spec.prefix = text(where, 'prefix', value.prefix)
  const asText = (v: unknown, key: string): string => (typeof v === 'number' ? String(v) : text(where, key, v))
  if (value.tolerance !== undefined) spec.toleranceMs = parseDuration(`${where}.tolerance`, asText(value.tolerance, 'tolerance'))
  if (value.maxBody !== undefined) spec.maxBodyBytes = parseBytes(`${where}.max_body`, asText(value.maxBody, 'max_body'))
  return spec
}

/** A `routes:` list. */
export function routesFromConfig(where: string, raw: unknown): RouteSpec[] {
  if (!Array.isArray(raw) || raw.length === 0) throw new ConfigError(`${where} must be a non-empty list of routes`)
  return raw.map((entry: unknown, i: number) => routeFromConfig(`${where}[${i}]`, entry))
}

/**
 * The routes of `--route` (repeated; the env form and a file's `route:`
 * list arrive comma-separated), with an explicit `--local` as the
 * catch-all after them. Undefined when no `--route` is given.
 */
export function routesFromFlags(route: string | undefined, local: string | undefined): RouteSpec[] | undefined {
  if (route === undefined || route.trim() === '') return undefined
  const routes = route
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean)
    .map(parseRouteFlag)
  return withCatchAll(routes, local)
}

/** Adds `local` (an explicit `--local`) as the catch-all, unless the routes end with one already (then giving both is an error). */
export function withCatchAll(routes: RouteSpec[], local: string | undefined): RouteSpec[] {
  if (local === undefined) return routes
  const last = routes[routes.length - 1]
  if (last !== undefined && last.host === undefined && (last.path ?? '/').replace(/\/+$/, '') === '')
    throw new ConfigError(`--local ${local} and a catch-all route (path /) both answer every other request; give one of them`)
  return [...routes, { path: '/', local }]
}
