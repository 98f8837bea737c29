import type { IncomingMessage } from 'node:http'

/**
 * The public client's address for allow-lists and rate limits. The socket's
 * peer, unless the server trusts its proxy: then the last `X-Forwarded-For`
 * entry, the one that proxy appended (entries to its left come from the
 * client and may be forged). IPv4-mapped IPv6 is shown as IPv4.
 */
export function clientIpFor(req: IncomingMessage, trustProxy: boolean): string {
  if (trustProxy) {
    const raw = req.headers['x-forwarded-for']
    const header = Array.isArray(raw) ? raw[raw.length - 1] : raw
    if (header !== undefined) {
      const last = header.slice(header.lastIndexOf(',') + 1).trim()
      if (last !== '') return unmap(last)
    }
  }
  return unmap(req.socket.remoteAddress ?? '')
}

function unmap(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address
}
