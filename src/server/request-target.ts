import type { IncomingMessage } from 'node:http'

/**
 * The request target and `Host` by RFC 9112 §3.2, settled once at the
 * entry, before any routing: an HTTP/1.1 request carries exactly one `Host`
 * (two are a `400`: proxies and the server could each pick a different one);
 * an absolute-form target (`GET http://a.example/x`) wins over `Host` — its
 * authority becomes the request's `Host` and the target becomes origin-form,
 * so routing, `X-Forwarded-Host` and the service all see the same host. The
 * path is taken from the raw target as sent (never through `new URL`, which
 * would fold `..` segments and let a path leave its tunnel's prefix).
 *
 * Returns null when the request may go on (`req.url`, `req.headers.host` and
 * `req.rawHeaders` possibly rewritten), else why it is a `400`.
 */
export function settleRequestTarget(req: IncomingMessage): string | null {
  // HTTP/2 (h2c) carries :authority; node:http2's compat layer fills `host` from it.
  if (req.httpVersionMajor >= 2) return null
  const raw = req.rawHeaders
  let hostAt = -1
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.length !== 4 || raw[i]!.toLowerCase() !== 'host') continue
    if (hostAt !== -1) return 'two Host headers'
    hostAt = i
  }
  const url = req.url ?? '/'
  if (url.startsWith('/') || url === '*') return null
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)
  if (scheme === null) return 'request target is neither origin-form nor absolute-form'
  const protocol = scheme[1]!.toLowerCase()
  if (protocol !== 'http' && protocol !== 'https') return `absolute-form target with scheme ${protocol}: only http and https`
  const rest = url.slice(scheme[0].length)
  let end = 0
  while (end < rest.length && rest[end] !== '/' && rest[end] !== '?' && rest[end] !== '#') end++
  const authority = rest.slice(0, end)
  if (authority === '' || authority.includes('@')) return 'absolute-form target needs a host and no user info'
  let host: string
  try {
    host = new URL(`${protocol}://${authority}/`).host
  } catch {
    return 'absolute-form target has an invalid host'
  }
  const tail = rest.slice(end)
  req.url = tail === '' ? '/' : tail.startsWith('?') ? `/${tail}` : tail
  req.headers.host = host
  if (hostAt === -1) raw.push('Host', host)
  else raw[hostAt + 1] = host
  return null
}
