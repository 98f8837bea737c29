/**
 * Fields that may travel as trailers (RFC 9110 §6.5.1): not framing, routing,
 * authentication, content description or hop-by-hop fields, which a
 * recipient must not take from a trailer section. The same filter runs
 * wherever trailers enter adit: the public request, the local response.
 */
const forbidden = new Set([
  'authorization',
  'cache-control',
  'connection',
  'content-encoding',
  'content-length',
  'content-range',
  'content-type',
  'cookie',
  'expect',
  'host',
  'keep-alive',
  'max-forwards',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'range',
  'set-cookie',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
])

function allowed(name: string): boolean {
  return !name.startsWith(':') && !forbidden.has(name.toLowerCase())
}

/** `rawTrailers`-style flat list (`[k, v, k, v]`) → the pairs that may be passed on; `[]` when none. */
export function trailerFields(raw: ReadonlyArray<string> | undefined): Array<[string, string]> {
  const out: Array<[string, string]> = []
  if (raw === undefined) return out
  for (let i = 0; i + 1 < raw.length; i += 2) if (allowed(raw[i]!)) out.push([raw[i]!, raw[i + 1]!])
  return out
}

/** The same filter over pairs (trailers an agent sent in a TRAILERS frame). */
export function trailerPairs(pairs: ReadonlyArray<[string, string]>): Array<[string, string]> {
  return pairs.filter((pair) => allowed(pair[0]))
}

/** Pairs → the object `addTrailers` takes on node:http and node:http2 alike (repeated names as arrays). */
export function trailerObject(pairs: ReadonlyArray<[string, string]>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const [name, value] of pairs) {
    const key = name.toLowerCase()
    const seen = out[key]
    out[key] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value]
  }
  return out
}
