import { ProtocolError, ProtocolErrorCode } from './errors.js'
import {
  FLAG_BLOCKED,
  FLAG_END,
  FrameType,
  HEADER_LENGTH,
  MAX_HEAD_LABEL,
  type Frame,
  type RequestHead,
  type ResponseHead,
  type TrailerFields,
} from './frame.js'

/**
 * Frame decoders. A WebSocket message is exactly one frame, so decoding is a
 * header read plus a view: the payload is never copied. Every check that a
 * hostile peer could trip throws a ProtocolError with a stable code.
 */

const knownTypes = new Set<number>(Object.values(FrameType))

/** Largest JSON head we parse; bigger heads are refused before JSON.parse runs. */
export const MAX_HEAD_BYTES = 256 * 1024

export function decodeFrame(message: Buffer): Frame {
  if (message.length < HEADER_LENGTH) {
    throw new ProtocolError(ProtocolErrorCode.FRAME_TOO_SHORT, `frame of ${message.length} bytes is shorter than its ${HEADER_LENGTH}-byte header`)
  }
  const byte = message[0]!
  const type = byte & ~(FLAG_END | FLAG_BLOCKED)
  if (!knownTypes.has(type)) {
    throw new ProtocolError(ProtocolErrorCode.UNKNOWN_FRAME_TYPE, `unknown frame type 0x${byte.toString(16)}`)
  }
  const end = (byte & FLAG_END) !== 0
  if (end && type !== FrameType.OPEN && type !== FrameType.HEAD && type !== FrameType.DATA) {
    throw new ProtocolError(ProtocolErrorCode.UNKNOWN_FRAME_TYPE, `frame type 0x${byte.toString(16)}: the END flag belongs on OPEN, HEAD or DATA only`)
  }
  const blocked = (byte & FLAG_BLOCKED) !== 0
  if (blocked && type !== FrameType.DATA) {
    throw new ProtocolError(ProtocolErrorCode.UNKNOWN_FRAME_TYPE, `frame type 0x${byte.toString(16)}: the BLOCKED flag belongs on DATA only`)
  }
  return { type, streamId: message.readUInt32BE(1), payload: message.subarray(HEADER_LENGTH), end, blocked }
}

export function decodeU32(payload: Buffer, what: string): number {
  if (payload.length !== 4) {
    throw new ProtocolError(ProtocolErrorCode.BAD_FRAME_PAYLOAD, `${what} payload must be 4 bytes, got ${payload.length}`)
  }
  return payload.readUInt32BE(0)
}

export function decodeReset(payload: Buffer): { code: number; reason: string } {
  if (payload.length < 4) {
    throw new ProtocolError(ProtocolErrorCode.BAD_FRAME_PAYLOAD, `RESET payload must be at least 4 bytes, got ${payload.length}`)
  }
  return { code: payload.readUInt32BE(0), reason: payload.toString('utf8', 4) }
}

export function decodeGoAway(payload: Buffer): { lastStreamId: number; code: number } {
  if (payload.length !== 8) {
    throw new ProtocolError(ProtocolErrorCode.BAD_FRAME_PAYLOAD, `GOAWAY payload must be 8 bytes, got ${payload.length}`)
  }
  return { lastStreamId: payload.readUInt32BE(0), code: payload.readUInt32BE(4) }
}

function parseJson(payload: Buffer, what: string): Record<string, unknown> {
  if (payload.length > MAX_HEAD_BYTES) {
    throw new ProtocolError(ProtocolErrorCode.BAD_FRAME_PAYLOAD, `${what} head of ${payload.length} bytes exceeds ${MAX_HEAD_BYTES}`)
  }
  let value: unknown
  try {
    value = JSON.parse(payload.toString('utf8'))
  } catch (cause) {
    throw new ProtocolError(ProtocolErrorCode.BAD_FRAME_PAYLOAD, `${what} head is not valid JSON`, { cause })
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ProtocolError(ProtocolErrorCode.BAD_FRAME_PAYLOAD, `${what} head must be a JSON object`)
  }
  return value as Record<string, unknown>
}

function checkHeaders(value: unknown, what: string): Array<[string, string]> {
  if (!Array.isArray(value)) {
    throw new ProtocolError(ProtocolErrorCode.BAD_FRAME_PAYLOAD, `${what} headers must be an array of [name, value] pairs`)
  }
  for (const pair of value) {
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
      throw new ProtocolError(ProtocolErrorCode.BAD_FRAME_PAYLOAD, `${what} headers must be an array of [name, value] string pairs`)
    }
  }
  return value as Array<[string, string]>
}

export function decodeOpen(payload: Buffer): RequestHead {
  const value = parseJson(payload, 'OPEN')
  const { method, path } = value
  if (typeof method !== 'string' || method.length === 0) {
    throw new ProtocolError(ProtocolErrorCode.BAD_FRAME_PAYLOAD, 'OPEN head needs a method')
  }
  if (typeof path !== 'string' || !path.startsWith('/')) {
    throw new ProtocolError(ProtocolErrorCode.BAD_FRAME_PAYLOAD, 'OPEN head needs a path starting with /')
  }
  const head: RequestHead = { method, path, headers: checkHeaders(value.headers, 'OPEN') }
  if (value.upgrade === true) head.upgrade = true
  if (value.tcp === true && head.upgrade === true) head.tcp = true
  if (typeof value.requestId === 'string') head.requestId = value.requestId
  if (value.bodyless === true) head.bodyless = true
  if (value.trailers === true) head.trailers = true
  return head
}

export function decodeHead(payload: Buffer): ResponseHead {
  const value = parseJson(payload, 'HEAD')
  const { status } = value
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 999) {
    throw new ProtocolError(ProtocolErrorCode.BAD_FRAME_PAYLOAD, 'HEAD needs an integer status between 100 and 999')
  }
  const head: ResponseHead = { status, headers: checkHeaders(value.headers, 'HEAD') }
  if (typeof value.statusText === 'string') head.statusText = value.statusText
  if (typeof value.route === 'string' && value.route.length <= MAX_HEAD_LABEL) head.route = value.route
  if (typeof value.answeredBy === 'string' && value.answeredBy.length <= MAX_HEAD_LABEL) head.answeredBy = value.answeredBy
  return head
}

/** TRAILERS: `{"headers":[[name, value], ...]}`; the frame itself ends the body. */
export function decodeTrailers(payload: Buffer): TrailerFields {
  return checkHeaders(parseJson(payload, 'TRAILERS').headers, 'TRAILERS')
}
