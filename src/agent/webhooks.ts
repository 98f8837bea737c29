/**
 * Webhook signature checks, done by the agent before a request reaches its
 * service, with the secret only on the agent. Each scheme is computed as
 * its provider documents it; comparisons are constant-time
 * (`crypto.timingSafeEqual` on equal-length digests).
 *
 * - `github`: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`
 * - `stripe`: `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>[,v1=…]`, `t` within the tolerance
 * - `slack`: `X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:<ts>:<body>")>` with `X-Slack-Request-Timestamp: <ts>` within the tolerance
 * - `hmac`: `<header>: [prefix]<hex or base64 HMAC-SHA256(secret, body)>`
 *
 * @example
 * const check = compileWebhook('route 1.webhook', { provider: 'github', secret: 'It\'s a Secret to Everybody' })
 * check.verify([['X-Hub-Signature-256', 'sha256=757107ea…']], Buffer.from('Hello, World!'), Date.now()) // { ok: true } for the documented pair
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { ConfigError } from '../errors.js'

export const webhookProviders = ['github', 'stripe', 'slack', 'hmac'] as const
export type WebhookProvider = (typeof webhookProviders)[number]

/** How a user writes a route's `webhook:`. */
export interface WebhookSpec {
  provider: WebhookProvider
  /** The signing secret. Give this or `secretEnv`. */
  secret?: string
  /** The environment variable that holds the secret (keeps it out of the config file). */
  secretEnv?: string
  /** `hmac` only: the header carrying the signature (default `X-Signature`). */
  header?: string
  /** `hmac` only: `hex` (default) or `base64`. */
  encoding?: 'hex' | 'base64'
  /** `hmac` only: text before the digest, e.g. `sha256=`. */
  prefix?: string
  /** `stripe`, `slack`: how far the signed timestamp may be from now (ms; default 5 min). */
  toleranceMs?: number
  /** Largest body buffered for the check (bytes; default 1 MiB): `413` beyond. */
  maxBodyBytes?: number
}

export type WebhookResult = { ok: true } | { ok: false; reason: string }

export interface WebhookCheck {
  provider: WebhookProvider
  maxBodyBytes: number
  /** `now` in ms since the epoch. */
  verify(headers: ReadonlyArray<[string, string]>, body: Buffer, now: number): WebhookResult
}

export const webhookDefaults = { toleranceMs: 5 * 60_000, maxBodyBytes: 1024 * 1024 }

function header(headers: ReadonlyArray<[string, string]>, lower: string): string | undefined {
  for (const [name, value] of headers) if (name.toLowerCase() === lower) return value
  return undefined
}

function hmac(secret: string, ...parts: Array<string | Buffer>): Buffer {
  const mac = createHmac('sha256', secret)
  for (const part of parts) mac.update(part)
  return mac.digest()
}

/** Constant-time: a digest of the wrong length (or not decodable) never matches. */
function same(expected: Buffer, given: string, encoding: 'hex' | 'base64'): boolean {
  const ok = encoding === 'hex' ? /^[0-9a-fA-F]+$/.test(given) : /^[A-Za-z0-9+/]+={0,2}$/.test(given)
  if (!ok) return false
  const bytes = Buffer.from(given, encoding)
  return bytes.length === expected.length && timingSafeEqual(bytes, expected)
}

const missing = (name: string): WebhookResult => ({ ok: false, reason: `webhook signature missing: no ${name} header` })
const mismatch: WebhookResult = { ok: false, reason: 'webhook signature does not match the body' }

function stale(toleranceMs: number): WebhookResult {
  return { ok: false, reason: `webhook timestamp is more than ${Math.round(toleranceMs / 1000)} s from now (a replay, or a skewed clock)` }
}

function withinTolerance(seconds: string, now: number, toleranceMs: number): boolean {
  if (!/^\d{1,12}$/.test(seconds)) return false
  return Math.abs(now - Number(seconds) * 1000) <= toleranceMs
}

function github(secret: string): WebhookCheck['verify'] {
  return (headers, body) => {
    const given = header(headers, 'x-hub-signature-256')
    if (given === undefined) return missing('X-Hub-Signature-256')
    if (!given.startsWith('sha256=')) return mismatch
    return same(hmac(secret, body), given.slice(7), 'hex') ? { ok: true } : mismatch
  }
}

function stripe(secret: string, toleranceMs: number): WebhookCheck['verify'] {
  return (headers, body, now) => {
    const given = header(headers, 'stripe-signature')
    if (given === undefined) return missing('Stripe-Signature')
    let t: string | undefined
    const v1: string[] = []
    for (const part of given.split(',')) {
      const eq = part.indexOf('=')
      const key = part.slice(0, eq).trim()
      const value = part.slice(eq + 1).trim()
      if (key === 't') t = value
      else if (key === 'v1') v1.push(value)
    }
    if (t === undefined || v1.length === 0) return { ok: false, reason: 'webhook signature malformed: Stripe-Signature needs t= and v1=' }
    const expected = hmac(secret, t, '.', body)
    // Every v1 is compared (Stripe sends several while a secret is rolled); no early exit.
    let match = false
    for (const candidate of v1) if (same(expected, candidate, 'hex')) match = true
    if (!match) return mismatch
    return withinTolerance(t, now, toleranceMs) ? { ok: true } : stale(toleranceMs)
  }
}

function slack(secret: string, toleranceMs: number): WebhookCheck['verify'] {
  return (headers, body, now) => {
    const given = header(headers, 'x-slack-signature')
    if (given === undefined) return missing('X-Slack-Signature')
    const ts = header(headers, 'x-slack-request-timestamp')
    if (ts === undefined) return missing('X-Slack-Request-Timestamp')
    // Slack's order: the timestamp first, so an old request is refused before any HMAC work.
    if (!withinTolerance(ts, now, toleranceMs)) return stale(toleranceMs)
    if (!given.startsWith('v0=')) return mismatch
    return same(hmac(secret, `v0:${ts}:`, body), given.slice(3), 'hex') ? { ok: true } : mismatch
  }
}

function generic(secret: string, name: string, encoding: 'hex' | 'base64', prefix: string): WebhookCheck['verify'] {
  const lower = name.toLowerCase()
  return (headers, body) => {
    const given = header(headers, lower)
    if (given === undefined) return missing(name)
    if (!given.startsWith(prefix)) return mismatch
    return same(hmac(secret, body), given.slice(prefix.length), encoding) ? { ok: true } : mismatch
  }
}

/** Checks a route's `webhook:` (reading `secretEnv` from `env`) into a verifier. */
export function compileWebhook(where: string, spec: WebhookSpec, env: NodeJS.ProcessEnv = process.env): WebhookCheck {
  if (!(webhookProviders as readonly string[]).includes(spec.provider))
    throw new ConfigError(`${where}.provider must be one of ${webhookProviders.join(', ')}, got ${JSON.stringify(spec.provider)}`)
  if ((spec.secret === undefined) === (spec.secretEnv === undefined))
    throw new ConfigError(`${where}: give secret or secret_env (the variable holding it), one of them`)
  const secret = spec.secret ?? env[spec.secretEnv!]
  if (secret === undefined || secret === '')
    throw new ConfigError(
      spec.secret === undefined ? `${where}: the environment variable ${spec.secretEnv} (secret_env) is not set` : `${where}.secret is empty`,
    )
  const toleranceMs = spec.toleranceMs ?? webhookDefaults.toleranceMs
  const maxBodyBytes = spec.maxBodyBytes ?? webhookDefaults.maxBodyBytes
  if (!Number.isInteger(toleranceMs) || toleranceMs < 1000) throw new ConfigError(`${where}.tolerance must be at least 1s`)
  if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 1) throw new ConfigError(`${where}.max_body must be a positive size`)
  if (spec.provider !== 'hmac' && (spec.header !== undefined || spec.encoding !== undefined || spec.prefix !== undefined))
    throw new ConfigError(`${where}: header, encoding and prefix are for provider hmac; ${spec.provider} has its own`)
  if (spec.provider !== 'stripe' && spec.provider !== 'slack' && spec.toleranceMs !== undefined)
    throw new ConfigError(`${where}.tolerance is for stripe and slack, whose signatures carry a timestamp`)
  if (spec.encoding !== undefined && spec.encoding !== 'hex' && spec.encoding !== 'base64') throw new ConfigError(`${where}.encoding must be hex or base64`)
  const name = spec.header ?? 'X-Signature'
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw new ConfigError(`${where}.header is not a header name: ${JSON.stringify(name)}`)
  const verify =
    spec.provider === 'github'
      ? github(secret)
      : spec.provider === 'stripe'
        ? stripe(secret, toleranceMs)
        : spec.provider === 'slack'
          ? slack(secret, toleranceMs)
          : generic(secret, name, spec.encoding ?? 'hex', spec.prefix ?? '')
  return { provider: spec.provider, maxBodyBytes, verify }
}
