import { randomBytes } from 'node:crypto'
import type { OutgoingHttpHeaders } from 'node:http'

/** Hop-by-hop headers (RFC 9110 §7.6.1) the front end never passes on; `upgrade` is put back for WebSockets. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'http2-settings'])

export interface TraceIds {
  /** 32 hex digits. */
  traceId: string
  /** 16 hex digits (the `traceparent` parent id); X-Cloud-Trace-Context carries it in decimal. */
  spanId: string
  sampled: boolean
}

/**
 * The trace a request joins: the caller's trace id when it sent a
 * `traceparent` (or an `X-Cloud-Trace-Context`), a new one otherwise; the
 * front end's span is always new, as Google's front end does it.
 */
export function traceFor(traceparent: string | undefined, cloudTrace: string | undefined): TraceIds {
  const spanId = randomBytes(8).toString('hex')
  const w3c = /^[\da-f]{2}-([\da-f]{32})-[\da-f]{16}-([\da-f]{2})$/.exec(traceparent ?? '')
  if (w3c) return { traceId: w3c[1]!, spanId, sampled: (parseInt(w3c[2]!, 16) & 1) === 1 }
  const google = /^([\da-f]{32})(?:\/\d+)?(?:;o=([01]))?$/.exec(cloudTrace ?? '')
  if (google) return { traceId: google[1]!, spanId, sampled: google[2] === '1' }
  return { traceId: randomBytes(16).toString('hex'), spanId, sampled: false }
}

/**
 * The request head an instance receives: the client's headers without the
 * hop-by-hop ones, then what Google's front end adds — `X-Forwarded-For`
 * (the client address appended), `X-Forwarded-Proto`, `Forwarded`,
 * `X-Cloud-Trace-Context` and `traceparent`.
 */
export function instanceHeaders(
  rawHeaders: readonly string[],
  clientIp: string,
  proto: 'http' | 'https',
  options: { upgrade?: string } = {},
): OutgoingHttpHeaders {
  const headers: Record<string, string | string[]> = {}
  const listed = new Set<string>()
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase()
    if (name === 'connection') for (const token of rawHeaders[i + 1]!.split(',')) listed.add(token.trim().toLowerCase())
  }
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase()
    if (HOP_BY_HOP.has(name) || listed.has(name) || name.startsWith(':')) continue
    const value = rawHeaders[i + 1]!
    const seen = headers[name]
    headers[name] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value]
  }
  const first = (name: string): string | undefined => {
    const v = headers[name]
    return Array.isArray(v) ? v[0] : v
  }
  const before = headers['x-forwarded-for']
  headers['x-forwarded-for'] = before === undefined ? clientIp : `${[before].flat().join(', ')}, ${clientIp}`
  headers['x-forwarded-proto'] = proto
  headers['forwarded'] = `for="${clientIp}";proto=${proto}`
  const trace = traceFor(first('traceparent'), first('x-cloud-trace-context'))
  headers['x-cloud-trace-context'] = `${trace.traceId}/${BigInt(`0x${trace.spanId}`).toString(10)};o=${trace.sampled ? 1 : 0}`
  headers['traceparent'] = `00-${trace.traceId}-${trace.spanId}-${trace.sampled ? '01' : '00'}`
  if (options.upgrade !== undefined) {
    headers['connection'] = 'upgrade'
    headers['upgrade'] = options.upgrade
  }
  return headers
}
