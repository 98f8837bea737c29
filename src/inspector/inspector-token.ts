/**
 * The inspector's per-run token, as Jupyter's: made at start, printed in the
 * URL the agent shows (`http://127.0.0.1:4040/?token=…`). Opening that URL
 * sets an HttpOnly, SameSite=Strict cookie holding an HMAC of the token (not
 * the token) and redirects to the same page without it, so it leaves the
 * address bar and the history. The API takes the cookie, `Authorization:
 * Bearer <token>` or `X-Adit-Inspector-Token: <token>` (curl, scripts).
 * Another local user can reach the port but not the token. Comparisons are
 * constant time. The cookie's name carries the port: cookies are not kept
 * apart by port, and two agents on one machine must not overwrite each other's.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { cookieOf } from '../ui/cookies.js'

export const TOKEN_HEADER = 'x-adit-inspector-token'

export type TokenCheck = { kind: 'allowed' } | { kind: 'redirect'; location: string; cookie: string } | { kind: 'denied' }

function same(a: string, b: string): boolean {
  const x = createHmac('sha256', 'adit inspector compare').update(a).digest()
  const y = createHmac('sha256', 'adit inspector compare').update(b).digest()
  return timingSafeEqual(x, y)
}

export class InspectorToken {
  readonly token: string
  private readonly cookieName: string
  private readonly cookieValue: string

  /** `token`: the one to require (16+ characters); by default a fresh random one per run. */
  constructor(port: number, token: string = randomBytes(24).toString('base64url')) {
    this.token = token
    this.cookieName = `adit_inspector_${port}`
    this.cookieValue = createHmac('sha256', token).update('adit inspector cookie v1').digest('base64url')
  }

  /** Whether `req` (its URL parsed as `url`) may see the inspector; a `?token=` on a page becomes the cookie. */
  check(req: IncomingMessage, url: URL, page: boolean): TokenCheck {
    const presented = [req.headers[TOKEN_HEADER], /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1]]
    for (const value of presented) if (typeof value === 'string' && same(value, this.token)) return { kind: 'allowed' }
    const fromQuery = url.searchParams.get('token')
    if (fromQuery !== null) {
      if (!same(fromQuery, this.token)) return { kind: 'denied' }
      if (!page) return { kind: 'allowed' }
      url.searchParams.delete('token')
      return {
        kind: 'redirect',
        location: `${url.pathname}${url.search}`,
        cookie: `${this.cookieName}=${this.cookieValue}; Path=/; HttpOnly; SameSite=Strict`,
      }
    }
    const cookie = cookieOf(req, this.cookieName)
    return cookie !== undefined && same(cookie, this.cookieValue) ? { kind: 'allowed' } : { kind: 'denied' }
  }
}
