/**
 * Who may talk to the inspector. It listens on loopback, but a web page the
 * user has open elsewhere can still reach loopback two ways:
 *
 * - DNS rebinding: evil.example resolves to 127.0.0.1, so the browser sends
 *   `Host: evil.example:4040`. Only loopback names and the bound address are
 *   accepted as Host, which stops the page reading anything.
 * - Cross-origin requests: a form or fetch on evil.example — or on another
 *   loopback port, which is the same *site* and so even carries SameSite
 *   cookies — can POST to http://127.0.0.1:4040/... with a loopback Host.
 *   Every request with an Origin therefore needs the inspector's exact
 *   origin, and API requests must be `Sec-Fetch-Site: same-origin` (or
 *   none: curl). The per-run token (inspector-token.ts) is the second lock:
 *   another local user, or a page that guesses the port, lacks it.
 */
import type { IncomingMessage } from 'node:http'
import { InspectorError, InspectorErrorCode } from './errors.js'

const loopbackNames = ['localhost', '127.0.0.1', '::1', '[::1]']

/** The host part of a Host header or URL authority, lower-case, brackets kept for IPv6. */
export function hostnameOf(authority: string): string {
  const value = authority.trim().toLowerCase()
  if (value.startsWith('[')) {
    const close = value.indexOf(']')
    return close < 0 ? value : value.slice(0, close + 1)
  }
  const colon = value.indexOf(':')
  return colon < 0 ? value : value.slice(0, colon)
}

export class RequestGuard {
  private readonly allowed: Set<string>

  /**
   * @param boundHost the address the server listens on.
   * @param extraHosts more names to accept as Host (e.g. a name in /etc/hosts).
   */
  constructor(boundHost: string, extraHosts: readonly string[] = []) {
    this.allowed = new Set(loopbackNames)
    for (const name of [boundHost, ...extraHosts]) {
      const host = name.toLowerCase()
      this.allowed.add(host.includes(':') && !host.startsWith('[') ? `[${host}]` : host)
    }
    // 0.0.0.0 / :: are not names a browser sends; listening there does not make every Host fine.
    this.allowed.delete('0.0.0.0')
    this.allowed.delete('[::]')
  }

  isAllowedHost(authority: string): boolean {
    const host = hostnameOf(authority)
    return this.allowed.has(host) || /^127(\.\d{1,3}){3}$/.test(host)
  }

  /**
   * Throws an InspectorError when the request must be refused: a Host that
   * is not loopback or the bound address; an Origin other than the exact
   * origin of the inspector's own page (`http://` + the Host it was reached
   * by — a page on another loopback port is another origin, though the same
   * site); a `Sec-Fetch-Site` other than `same-origin` or `none` on an API
   * route or any request that changes something (the page itself may be
   * opened from a link).
   */
  check(req: IncomingMessage, api: boolean): void {
    const host = req.headers.host
    if (host === undefined || !this.isAllowedHost(host)) {
      throw new InspectorError(
        InspectorErrorCode.FORBIDDEN_HOST,
        `the inspector only answers requests addressed to localhost or its bound address, not ${JSON.stringify(host ?? '')}`,
      )
    }
    const changes = req.method !== 'GET' && req.method !== 'HEAD'
    const site = req.headers['sec-fetch-site']
    if ((api || changes) && site !== undefined && site !== 'same-origin' && site !== 'none') {
      throw new InspectorError(InspectorErrorCode.FORBIDDEN_ORIGIN, `${site} requests may not use the inspector's API: open the inspector itself`)
    }
    const origin = req.headers.origin
    if (origin === undefined) return
    const own = `http://${host.trim().toLowerCase()}`
    if (origin.toLowerCase() !== own) {
      throw new InspectorError(InspectorErrorCode.FORBIDDEN_ORIGIN, `requests from ${origin} may not use the inspector (only its own page, ${own})`)
    }
  }
}
