/**
 * Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and are never
 * forwarded: the fixed list, plus any header the Connection header names.
 */
const fixed = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
])

/**
 * Filters `[name, value]` pairs (names in any case). `keepUpgrade` keeps
 * `Connection: upgrade` + `Upgrade` for a WebSocket hand-off.
 */
export function stripHopByHop(pairs: Array<[string, string]>, keepUpgrade = false): Array<[string, string]> {
  let named: Set<string> | undefined
  for (const [name, value] of pairs) {
    if (name.length === 10 && name.toLowerCase() === 'connection') {
      for (const token of value.split(',')) {
        const t = token.trim().toLowerCase()
        if (t.length > 0 && !(keepUpgrade && t === 'upgrade')) (named ??= new Set()).add(t)
      }
    }
  }
  const out: Array<[string, string]> = []
  for (const pair of pairs) {
    const lower = pair[0].toLowerCase()
    if (keepUpgrade && (lower === 'upgrade' || lower === 'connection')) {
      if (lower === 'connection') out.push([pair[0], 'upgrade'])
      else out.push(pair)
      continue
    }
    if (fixed.has(lower) || named?.has(lower)) continue
    out.push(pair)
  }
  return out
}

/** `rawHeaders`-style flat list (`[k, v, k, v]`) → pairs. */
export function pairsFromRaw(raw: string[]): Array<[string, string]> {
  const out: Array<[string, string]> = []
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!])
  return out
}

/** Pairs → the flat list `writeHead` and undici take, keeping repeats apart. */
export function rawFromPairs(pairs: Array<[string, string]>): string[] {
  const out: string[] = []
  for (const [name, value] of pairs) out.push(name, value)
  return out
}
