import { ConfigError } from '../errors.js'

/**
 * The local service as a person types it → an origin URL:
 * `3000` or `:3000` → `http://localhost:3000`, `localhost:3000` / `192.168.1.5:8080` /
 * `[::1]:3000` → `http://…`, `https://127.0.0.1:8443` as it is, and
 * `h2c://127.0.0.1:50051` for a service that speaks HTTP/2 without TLS (gRPC
 * servers do). A path or query is refused (the agent forwards every path to
 * the service's root).
 *
 * @example
 * parseLocalTarget('3000') // 'http://localhost:3000'
 */
export function parseLocalTarget(value: string, name = 'local'): string {
  const text = value.trim()
  const bare = /^:?(\d+)$/.exec(text)
  if (bare) return `http://localhost:${port(bare[1]!, name, value)}`
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`
  let url: URL
  try {
    url = new URL(withScheme)
  } catch (cause) {
    throw new ConfigError(`${name} must be a port (3000), host:port (localhost:3000) or a URL (http://127.0.0.1:3000), got ${JSON.stringify(value)}`, { cause })
  }
  if (!localSchemes.has(url.protocol)) throw new ConfigError(`${name} must be http://, https:// or h2c://, got ${url.protocol}// in ${JSON.stringify(value)}`)
  if (url.username !== '' || url.password !== '') throw new ConfigError(`${name} must not carry credentials, got ${JSON.stringify(value)}`)
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '')
    throw new ConfigError(`${name} must be an origin (scheme://host:port) without a path, got ${JSON.stringify(value)}`)
  if (url.port !== '') port(url.port, name, value)
  return originOf(url)
}

/** The schemes a local origin may have: h2c is HTTP/2 with prior knowledge (no TLS). */
export const localSchemes: ReadonlySet<string> = new Set(['http:', 'https:', 'h2c:'])

/** `scheme://host[:port]`: URL's own `origin` is "null" for a scheme it does not know (h2c:). */
export function originOf(url: URL): string {
  if (url.protocol !== 'h2c:') return url.origin
  if (url.hostname === '') throw new ConfigError(`h2c:// needs a host: ${url.href}`)
  return `h2c://${url.host}`
}

function port(text: string, name: string, value: string): number {
  const n = Number(text)
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new ConfigError(`${name}: port must be 1–65535, got ${JSON.stringify(value)}`)
  return n
}

/** Where a TCP tunnel's agent connects: one host and port, nothing else. */
export interface TcpTarget {
  host: string
  port: number
}

/**
 * A TCP tunnel's local service as a person types it (`adit tcp <target>`):
 * `5432` or `:5432` → localhost:5432, `db.internal:5432`, `[::1]:5432`,
 * `tcp://host:port`.
 *
 * @example
 * parseTcpTarget('5432') // { host: 'localhost', port: 5432 }
 */
export function parseTcpTarget(value: string, name = 'tcp target'): TcpTarget {
  const text = value.trim().replace(/^tcp:\/\//i, '')
  const bare = /^:?(\d+)$/.exec(text)
  if (bare) return { host: 'localhost', port: port(bare[1]!, name, value) }
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:/\s[\]]+):(\d+)$/.exec(text)
  if (!match) throw new ConfigError(`${name} must be a port (5432) or host:port (db.internal:5432), got ${JSON.stringify(value)}`)
  const host = match[1]!.startsWith('[') ? match[1]!.slice(1, -1) : match[1]!
  return { host, port: port(match[2]!, name, value) }
}
