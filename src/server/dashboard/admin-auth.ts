/**
 * Who may see the dashboard: whoever holds ADIT_ADMIN_TOKEN, shown as
 * `Authorization: Bearer <token>`, or once as `?token=` in a link — which
 * sets an HttpOnly, SameSite=Strict cookie and redirects to the same page
 * without the token, so it leaves the address bar and the history. The
 * cookie holds an HMAC of the token, not the token. Comparisons are constant
 * time.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { cookieOf } from '../../ui/cookies.js'

export const ADMIN_COOKIE = 'adit_admin'

/** `denied.presented`: a token was shown and was wrong (a guess, for the failure throttle), not merely absent or a stale cookie. */
export type AdminCheck = { kind: 'allowed' } | { kind: 'redirect'; location: string; cookie: string } | { kind: 'denied'; presented: boolean }

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/** The cookie value for `token`: an HMAC, so a leaked cookie is not the token. */
export function adminCookieValue(token: string): string {
  return createHmac('sha256', token).update('adit dashboard cookie v1').digest('base64url')
}

/** Decides what to do with a dashboard request; `url` is the parsed request URL, `secure` whether the client used https. */
export function checkAdmin(req: IncomingMessage, url: URL, token: string, secure: boolean): AdminCheck {
  const authorization = req.headers.authorization
  const bearer = authorization !== undefined && /^Bearer\s+/i.test(authorization)
  if (bearer && sameSecret(authorization.replace(/^Bearer\s+/i, ''), token)) return { kind: 'allowed' }
  const fromQuery = url.searchParams.get('token')
  if (fromQuery !== null) {
    if (!sameSecret(fromQuery, token)) return { kind: 'denied', presented: true }
    url.searchParams.delete('token')
    const location = `${url.pathname}${url.search}`
    const cookie = `${ADMIN_COOKIE}=${adminCookieValue(token)}; Path=/dashboard; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}; Max-Age=43200`
    return { kind: 'redirect', location, cookie }
  }
  const cookie = cookieOf(req, ADMIN_COOKIE)
  if (cookie !== undefined && sameSecret(cookie, adminCookieValue(token))) return { kind: 'allowed' }
  // A stale cookie (the token was rotated) is not a guess: guessing the HMAC is harder than the
  // token, and counting it would lock out the admin whose open page keeps polling with it.
  return { kind: 'denied', presented: bearer }
}
