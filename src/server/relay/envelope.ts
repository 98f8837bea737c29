/**
 * The relay envelope: how one adit.v2 frame travels between two server
 * instances over the cluster bus. docs/cluster.md ("Relay envelope") is the
 * spec; these values never change meaning once shipped.
 *
 * ```
 * version (u8) = 1 | kind (u8) | sender length (u8) | sender id (UTF-8)
 *                  | tunnel length (u8) | tunnel id (UTF-8) | frame (adit.v2 bytes)
 * ```
 *
 * - `kind` says which side of a relayed stream the frame is for (below).
 * - `sender` is the instance that published the message: replies go to it.
 * - `tunnel` is set on OPEN only (which of the receiver's agents must serve
 *   the stream); empty (length 0) on every other message.
 * - `frame` is an unmodified adit.v2 frame; its stream id is the *relay
 *   stream id*, allocated by the origin instance (the one holding the public
 *   request) and unique per (origin, endpoint) pair. It is not the stream id
 *   on the agent's WebSocket: the endpoint opens its own stream there.
 *
 * Binary throughout: no JSON beyond the heads adit.v2 already carries as
 * JSON, no base64.
 */
import { HEADER_LENGTH } from '../../protocol/index.js'

export const ENVELOPE_VERSION = 1

/** Which side of a relayed stream a message is for. Never reuse a number. */
export const EnvelopeKind = {
  /** origin → endpoint: OPEN, request DATA/END, RESET, WINDOW (credit for the response). */
  TO_ENDPOINT: 1,
  /** endpoint → origin: HEAD, response DATA/END, RESET, WINDOW (credit for the request body). */
  TO_ORIGIN: 2,
  /** Liveness probe, no frame: its only use is PUBLISH's receiver count (0 = the instance is gone). */
  PROBE: 3,
  /**
   * "Tunnel `tunnel` was revoked here", no frame: sent to the instances presence names for it, which
   * check the store and disconnect its agents (a hint: the receiver never disconnects on it alone).
   */
  REVOKED: 4,
  /**
   * "This instance is draining and closes its relayed WebSocket sessions now", sent to the origins of
   * its relay streams; the frame is 4 bytes, u32 big-endian: the milliseconds left before it cuts
   * them. The origin closes the upgraded sessions it relays through the sender as at its own drain
   * (close frames 1001 both ways). A receiver that does not know the kind drops it.
   */
  LEAVING: 5,
} as const
export type EnvelopeKind = (typeof EnvelopeKind)[keyof typeof EnvelopeKind]

/** Longest instance or tunnel id an envelope carries (one length byte). */
export const MAX_ENVELOPE_ID_BYTES = 255

/** The fixed bytes of an envelope around its two ids. */
const FIXED_BYTES = 4

/** An instance or tunnel id as envelope bytes; throws RangeError when longer than 255 bytes. */
export function envelopeId(id: string): Buffer {
  const bytes = Buffer.from(id, 'utf8')
  if (bytes.length > MAX_ENVELOPE_ID_BYTES) throw new RangeError(`id of ${bytes.length} bytes does not fit a relay envelope (max ${MAX_ENVELOPE_ID_BYTES})`)
  return bytes
}

/**
 * One message: envelope header + `frame`, in one allocation (the frame is
 * copied once; the bus takes a single buffer).
 */
export function encodeEnvelope(kind: EnvelopeKind, sender: Buffer, tunnel: Buffer | null, frame: Uint8Array | null): Buffer {
  const tunnelLength = tunnel?.length ?? 0
  const header = FIXED_BYTES + sender.length + tunnelLength
  const buf = Buffer.allocUnsafe(header + (frame?.length ?? 0))
  buf[0] = ENVELOPE_VERSION
  buf[1] = kind
  buf[2] = sender.length
  sender.copy(buf, 3)
  buf[3 + sender.length] = tunnelLength
  if (tunnel !== null) tunnel.copy(buf, 4 + sender.length)
  if (frame !== null) buf.set(frame, header)
  return buf
}

/** A decoded envelope. Reused by the receiver (one per relay), never kept past the call. */
export class Envelope {
  kind = 0
  sender = ''
  tunnel = ''
  /** A view into the message: never a copy. Empty for a PROBE. */
  frame: Buffer = Buffer.alloc(0)
}

/**
 * Fills `into` from `message`; false when the message is not a well-formed
 * envelope of a known version and kind (the receiver drops and counts it).
 */
export function decodeEnvelope(message: Buffer, into: Envelope): boolean {
  if (message.length < FIXED_BYTES || message[0] !== ENVELOPE_VERSION) return false
  const kind = message[1]!
  if (kind < EnvelopeKind.TO_ENDPOINT || kind > EnvelopeKind.LEAVING) return false
  const senderLength = message[2]!
  const tunnelAt = 3 + senderLength
  if (message.length < tunnelAt + 1 || senderLength === 0) return false
  const tunnelLength = message[tunnelAt]!
  const frameAt = tunnelAt + 1 + tunnelLength
  if (message.length < frameAt) return false
  const frameLength = message.length - frameAt
  if (
    kind === EnvelopeKind.PROBE || kind === EnvelopeKind.REVOKED
      ? frameLength !== 0
      : kind === EnvelopeKind.LEAVING
        ? frameLength !== 4
        : frameLength < HEADER_LENGTH
  )
    return false
  if (kind === EnvelopeKind.REVOKED && tunnelLength === 0) return false
  into.kind = kind
  into.sender = message.toString('utf8', 3, tunnelAt)
  into.tunnel = tunnelLength === 0 ? '' : message.toString('utf8', tunnelAt + 1, frameAt)
  into.frame = message.subarray(frameAt)
  return true
}
