import type { IncomingMessage } from 'node:http'
import { stripHopByHop } from '../http/hop-by-hop.js'
import { putUnderPrefix } from '../http/under-prefix.js'

export interface ForwardingContext {
  /** Client address as the server sees it (the socket's peer). */
  clientIp: string
  /** `http` or `https`, as the public client used it. */
  proto: string
  /** Host the public client asked for. */
  host: string
  /** Prefix stripped before the request reaches the service (`/pub/{id}`), or '' for host routing. */
  prefix: string
  requestId: string
  /** Trust the incoming X-Forwarded-* chain (the server sits behind a known proxy, e.g. Cloud Run's front end). */
  trustProxy: boolean
}

/**
 * The request headers the local service sees: the client's own, less
 * hop-by-hop ones, plus X-Forwarded-For/-Proto/-Host/-Prefix, Forwarded and
 * the request id. An untrusted client's X-Forwarded-* are replaced, not
 * appended to, so it cannot forge its address.
 */
export function requestHeadersFor(req: IncomingMessage, ctx: ForwardingContext, keepUpgrade: boolean): Array<[string, string]> {
  const raw = req.rawHeaders
  const pairs: Array<[string, string]> = []
  let priorFor: string | undefined
  let priorForwarded: string | undefined
  let acceptsTrailers = false
  const announced: string[] = []
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!
    const lower = name.toLowerCase()
    if (lower === 'te' && /(^|,)\s*trailers\s*(;|,|$)/i.test(raw[i + 1]!)) acceptsTrailers = true
    if (lower === 'trailer') announced.push(raw[i + 1]!)
    if (lower.startsWith('x-forwarded-') || lower === 'forwarded' || lower === 'x-adit-request-id') {
      if (ctx.trustProxy && lower === 'x-forwarded-for') priorFor = priorFor === undefined ? raw[i + 1] : `${priorFor}, ${raw[i + 1]}`
      if (ctx.trustProxy && lower === 'forwarded') priorForwarded = priorForwarded === undefined ? raw[i + 1] : `${priorForwarded}, ${raw[i + 1]}`
      continue
    }
    pairs.push([name, raw[i + 1]!])
  }
  const out = stripHopByHop(pairs, keepUpgrade)
  // TE is hop-by-hop, but `trailers` in it says "this client takes trailers", and adit carries them:
  // gRPC services require it (HTTP/2 allows no other TE value).
  if (acceptsTrailers) out.push(['te', 'trailers'])
  // Trailer names the fields the trailer section will hold (RFC 9110 §6.6.2): the agent needs to know one is coming,
  // to pick a client that can send it on to an HTTP/1.1 service.
  if (announced.length > 0) out.push(['Trailer', announced.join(', ')])
  const forNode = ctx.clientIp.includes(':') ? `"[${ctx.clientIp}]"` : ctx.clientIp
  out.push(['X-Forwarded-For', priorFor === undefined ? ctx.clientIp : `${priorFor}, ${ctx.clientIp}`])
  out.push(['X-Forwarded-Proto', ctx.proto])
  out.push(['X-Forwarded-Host', ctx.host])
  if (ctx.prefix !== '') out.push(['X-Forwarded-Prefix', ctx.prefix])
  const forwarded = `for=${forNode};host=${quoteIfNeeded(ctx.host)};proto=${ctx.proto}`
  out.push(['Forwarded', priorForwarded === undefined ? forwarded : `${priorForwarded}, ${forwarded}`])
  out.push(['X-Adit-Request-Id', ctx.requestId])
  return out
}

function quoteIfNeeded(value: string): string {
  return /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(value) ? value : `"${value.replace(/["\\]/g, '\\$&')}"`
}

/**
 * Response headers the public client sees: hop-by-hop removed and, because
 * the prefix was stripped on the way in, put back under it (under-prefix.ts).
 * Values with CR or LF are dropped (response splitting).
 */
export function responseHeadersFor(pairs: Array<[string, string]>, prefix: string, keepUpgrade: boolean): Array<[string, string]> {
  const out = stripHopByHop(pairs, keepUpgrade)
  for (let i = out.length - 1; i >= 0; i--) {
    const value = out[i]![1]
    if (value.includes('\r') || value.includes('\n') || value.includes('\0')) out.splice(i, 1)
  }
  putUnderPrefix(out, prefix)
  return out
}
