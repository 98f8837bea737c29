/**
 * Response headers put back under a path prefix that was stripped on the
 * way in (what Apache's ProxyPassReverse and ProxyPassReverseCookiePath do):
 * an absolute-path `Location` / `Content-Location` and every cookie `Path`.
 * The server does it for `/pub/{id}`; the agent for a route's `stripPrefix`
 * (a service mounted at `/api` that redirects to `/login` means `/api/login`).
 */

/** Rewrites `pairs` in place; `prefix` is `/x` (no trailing slash), '' for none. */
export function putUnderPrefix(pairs: Array<[string, string]>, prefix: string): void {
  if (prefix === '') return
  for (let i = 0; i < pairs.length; i++) {
    const pair = pairs[i]!
    const lower = pair[0].toLowerCase()
    const value = pair[1]
    // `//host/x` is a network-path reference, not a path on this origin.
    if ((lower === 'location' || lower === 'content-location') && value.startsWith('/') && !value.startsWith('//')) {
      pairs[i] = [pair[0], prefix + value]
    } else if (lower === 'set-cookie') {
      pairs[i] = [pair[0], cookieUnderPrefix(value, prefix)]
    }
  }
}

function cookieUnderPrefix(cookie: string, prefix: string): string {
  let sawPath = false
  // Every Path attribute, not only the first: browsers use the last one.
  const rewritten = cookie.replace(/(;\s*path=)([^;]*)/gi, (_m, attr: string, path: string) => {
    sawPath = true
    const p = path.trim()
    return p.startsWith('/') ? `${attr}${prefix}${p === '/' ? '/' : p}` : `${attr}${path}`
  })
  // A cookie without Path defaults to the request's directory, which already
  // lies under the prefix; leave it.
  return sawPath ? rewritten : cookie
}
