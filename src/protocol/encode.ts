import { FLAG_BLOCKED, FLAG_END, FrameType, HEADER_LENGTH, type RequestHead, type ResponseHead, type TrailerFields } from './frame.js'

/**
 * Frame encoders. Each returns one Buffer: ws sends one WebSocket message per
 * call, so header and payload share an allocation (one copy of the payload,
 * which ws would make anyway when masking agent→server traffic).
 */

function frame(type: number, streamId: number, payloadLength: number): Buffer {
  const buf = Buffer.allocUnsafe(HEADER_LENGTH + payloadLength)
  buf[0] = type
  buf.writeUInt32BE(streamId, 1)
  return buf
}

/**
 * `end`: the body ends with these bytes (FLAG_END; only to a peer that negotiated `end-flag`).
 * `blocked`: these bytes spent the sender's credit and it has more (FLAG_BLOCKED; only to a peer that negotiated `window-blocked`).
 */
export function encodeData(streamId: number, data: Uint8Array, end = false, blocked = false): Buffer {
  const buf = Buffer.allocUnsafe(HEADER_LENGTH + data.length)
  writeDataHeader(buf, 0, streamId, end, blocked)
  buf.set(data, HEADER_LENGTH)
  return buf
}

/** The HEADER_LENGTH bytes that start a DATA frame, written at `offset` (for a transport that sends the payload beside them). */
export function writeDataHeader(buf: Buffer, offset: number, streamId: number, end: boolean, blocked: boolean): void {
  buf[offset] = FrameType.DATA | (end ? FLAG_END : 0) | (blocked ? FLAG_BLOCKED : 0)
  buf.writeUInt32BE(streamId, offset + 1)
}

export function encodeEnd(streamId: number): Buffer {
  return frame(FrameType.END, streamId, 0)
}

export function encodeWindow(streamId: number, increment: number): Buffer {
  const buf = frame(FrameType.WINDOW, streamId, 4)
  buf.writeUInt32BE(increment, HEADER_LENGTH)
  return buf
}

export function encodeReset(streamId: number, code: number, reason = ''): Buffer {
  const reasonLength = Buffer.byteLength(reason)
  const buf = frame(FrameType.RESET, streamId, 4 + reasonLength)
  buf.writeUInt32BE(code, HEADER_LENGTH)
  if (reasonLength > 0) buf.write(reason, HEADER_LENGTH + 4, 'utf8')
  return buf
}

export function encodeGoAway(lastStreamId: number, code: number): Buffer {
  const buf = frame(FrameType.GOAWAY, 0, 8)
  buf.writeUInt32BE(lastStreamId, HEADER_LENGTH)
  buf.writeUInt32BE(code, HEADER_LENGTH + 4)
  return buf
}

function encodeJson(type: number, streamId: number, value: unknown): Buffer {
  const json = JSON.stringify(value)
  const length = Buffer.byteLength(json)
  const buf = frame(type, streamId, length)
  buf.write(json, HEADER_LENGTH, 'utf8')
  return buf
}

/** `end`: the request has no body; this OPEN is also its END (FLAG_END). */
export function encodeOpen(streamId: number, head: RequestHead, end = false): Buffer {
  return encodeJson(end ? FrameType.OPEN | FLAG_END : FrameType.OPEN, streamId, head)
}

/** `end`: the response has no body; this HEAD is also its END (FLAG_END). */
export function encodeHead(streamId: number, head: ResponseHead, end = false): Buffer {
  return encodeJson(end ? FrameType.HEAD | FLAG_END : FrameType.HEAD, streamId, head)
}

/** Trailer fields, and the end of this side's body (only to a peer that negotiated `trailers`). Once per stream: JSON is fine here. */
export function encodeTrailers(streamId: number, trailers: TrailerFields): Buffer {
  return encodeJson(FrameType.TRAILERS, streamId, { headers: trailers })
}
