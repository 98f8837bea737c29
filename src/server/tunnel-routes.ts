/**
 * Where a public request goes: `/pub/{id}/rest` (prefix stripped) or a
 * redirect for `/pub/{id}` without its slash. The id segment is taken
 * literally (no decoding, no dot-segment folding), so nothing in the rest of
 * the path can reach another tunnel: `/pub/a/../b/` goes to `a` as `/../b/`.
 */
export type PubRoute = { kind: 'tunnel'; id: string; prefix: string; path: string } | { kind: 'redirect'; location: string } | { kind: 'bad-id' }

const ID_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/

export function isValidTunnelId(id: string): boolean {
  return ID_PATTERN.test(id)
}

/** `url` starts with `/pub/`. */
export function routePub(url: string): PubRoute {
  const start = 5
  let end = start
  while (end < url.length) {
    const c = url.charCodeAt(end)
    if (c === 0x2f /* / */ || c === 0x3f /* ? */) break
    end++
  }
  const id = url.slice(start, end)
  if (!isValidTunnelId(id)) return { kind: 'bad-id' }
  const prefix = `/pub/${id}`
  if (end === url.length || url.charCodeAt(end) === 0x3f) {
    return { kind: 'redirect', location: `${prefix}/${url.slice(end)}` }
  }
  return { kind: 'tunnel', id, prefix, path: url.slice(end) }
}

/**
 * Host-based routing: `{id}.{suffix}` (wildcard DNS) reaches tunnel `id`
 * with nothing stripped, so apps that use absolute paths work unchanged.
 * Returns null when the Host is not one of ours.
 */
export function routeHost(host: string | undefined, suffix: string | undefined, url: string): PubRoute | null {
  if (suffix === undefined || host === undefined) return null
  let name = host.toLowerCase()
  // Strip a port (IPv6 literals never match a suffix anyway).
  const colon = name.lastIndexOf(':')
  if (colon !== -1 && !name.endsWith(']')) name = name.slice(0, colon)
  if (name.endsWith('.')) name = name.slice(0, -1)
  const tail = `.${suffix}`
  if (!name.endsWith(tail)) return null
  const id = name.slice(0, -tail.length)
  if (!isValidTunnelId(id)) return { kind: 'bad-id' }
  return { kind: 'tunnel', id, prefix: '', path: url.startsWith('/') ? url : `/${url}` }
}
