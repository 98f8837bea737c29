/**
 * Who may talk to the inspector. It listens on loopback, but a web page the
 * user has open elsewhere can still reach loopback two ways:
 *
 * - DNS rebinding: evil.example resolves to 127.0.0.1, so the browser sends
 *   `Host: evil.example:4040`. Only loopback names and the bound address are
 *   accepted as Host, which stops the page reading anything.
 * - Cross-site requests: a form on evil.example can POST to
 *   http://127.0.0.1:4040/... with a loopback Host. State-changing requests
 *   (replay) therefore also need an Origin that is loopback, or none at all
 *   (curl), and must not be marked `Sec-Fetch-Site: cross-site`.
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

  /** Throws an InspectorError when the request must be refused. */
  check(req: IncomingMessage): void {
    const host = req.headers.host
    if (host === undefined || !this.isAllowedHost(host)) {
      throw new InspectorError(
        InspectorErrorCode.FORBIDDEN_HOST,
        `the inspector only answers requests addressed to localhost or its bound address, not ${JSON.stringify(host ?? '')}`,
      )
    }
    if (req.method === 'GET' || req.method === 'HEAD') return
    if (req.headers['sec-fetch-site'] === 'cross-site') {
      throw new InspectorError(InspectorErrorCode.FORBIDDEN_ORIGIN, 'cross-site requests may not change anything in the inspector')
    }
    const origin = req.headers.origin
    if (origin === undefined) return
    let originHost: string
    try {
      originHost = new URL(origin).host
    } catch {
      throw new InspectorError(InspectorErrorCode.FORBIDDEN_ORIGIN, `unreadable Origin ${JSON.stringify(origin)}`)
    }
    if (!this.isAllowedHost(originHost)) {
      throw new InspectorError(InspectorErrorCode.FORBIDDEN_ORIGIN, `requests from ${origin} may not change anything in the inspector`)
    }
  }
}
