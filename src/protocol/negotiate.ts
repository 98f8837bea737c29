import { Subprotocol } from './frame.js'

/**
 * Picks the wire protocol for an agent's WebSocket upgrade from the values of
 * its `Sec-WebSocket-Protocol` header (docs/protocol.md, "Negotiation").
 *
 * - `adit.v2` offered → `adit.v2`, whatever else is offered.
 * - `adit.json.v1` offered → `adit.json.v1`.
 * - nothing offered → `adit.json.v1`, so agents written against the original
 *   design keep working; the response then carries no `Sec-WebSocket-Protocol`
 *   (RFC 6455 forbids answering with one the client did not offer).
 * - only unknown names offered → `null`: the upgrade should be refused, since a
 *   conforming client fails a handshake whose answer names none of its offers.
 *
 * @example
 * selectSubprotocol(['adit.v2'])          // 'adit.v2'
 * selectSubprotocol([])                   // 'adit.json.v1'
 * selectSubprotocol(['graphql-ws'])       // null
 */
export function selectSubprotocol(offered: Iterable<string>): Subprotocol | null {
  let any = false
  let json = false
  for (const raw of offered) {
    const name = raw.trim()
    if (name === '') continue
    any = true
    if (name === Subprotocol.V2) return Subprotocol.V2
    if (name === Subprotocol.JSON_V1) json = true
  }
  return json || !any ? Subprotocol.JSON_V1 : null
}

/** Splits a raw `Sec-WebSocket-Protocol` header value (`"a, b"`) into names. */
export function parseSubprotocolHeader(value: string | undefined): string[] {
  if (value === undefined) return []
  return value
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '')
}
