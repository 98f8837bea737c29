/**
 * As much of WebSocket framing (RFC 6455 §5.2) as a proxy of raw upgraded
 * bytes needs to end a session cleanly: where each frame ends, and a close
 * frame of its own. The proxy never decodes payloads, unmasks, or inflates
 * (extensions only use the RSV bits, which do not change where a frame ends).
 */
import { randomBytes } from 'node:crypto'

/** Opcode of a close frame. */
export const CLOSE_OPCODE = 0x8

/** Close codes a proxy sends (RFC 6455 §7.4.1). */
export const WsCloseCode = {
  /** The endpoint is going away: a server shutting down, a browser leaving the page. */
  GOING_AWAY: 1001,
} as const

/** Longest frame header: 2 bytes, 8 of extended length, 4 of mask key. */
const MAX_HEADER = 14

/**
 * Follows the frames of one direction of a WebSocket byte stream. Cost per
 * chunk is per frame header, not per byte: payloads are skipped by length.
 */
export class FrameBoundary {
  private readonly header = Buffer.alloc(MAX_HEADER)
  private headerBytes = 0
  /** Payload bytes of the current frame still to come. */
  private remaining = 0
  private opcode = 0
  /** A complete close frame went by. */
  sawClose = false

  /** True between frames: a frame of one's own may go here. */
  get atBoundary(): boolean {
    return this.headerBytes === 0 && this.remaining === 0
  }

  /**
   * Follows `chunk` and returns how many of its bytes it took: all of them,
   * or with `stopAtBoundary` only up to the first frame boundary (0 when
   * already at one), so the caller may put its own frame right there.
   */
  scan(chunk: Buffer, stopAtBoundary = false): number {
    let i = 0
    while (i < chunk.length) {
      if (stopAtBoundary && this.atBoundary) return i
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, chunk.length - i)
        this.remaining -= n
        i += n
        if (this.remaining === 0) this.frameDone()
        continue
      }
      this.header[this.headerBytes++] = chunk[i++]!
      const need = this.headerLength()
      if (need === 0 || this.headerBytes < need) continue
      this.opcode = this.header[0]! & 0x0f
      this.remaining = this.payloadLength()
      this.headerBytes = 0
      if (this.remaining === 0) this.frameDone()
    }
    return i
  }

  /** The whole header's length once its first two bytes are in; 0 before. */
  private headerLength(): number {
    if (this.headerBytes < 2) return 0
    const second = this.header[1]!
    const length = second & 0x7f
    return 2 + (length === 126 ? 2 : length === 127 ? 8 : 0) + (second & 0x80 ? 4 : 0)
  }

  private payloadLength(): number {
    const length = this.header[1]! & 0x7f
    if (length === 126) return this.header.readUInt16BE(2)
    // 2^53 and more cannot be reached by any real stream; Number is exact below it.
    if (length === 127) return Number(this.header.readBigUInt64BE(2))
    return length
  }

  private frameDone(): void {
    if (this.opcode === CLOSE_OPCODE) this.sawClose = true
  }
}

/**
 * A close frame with `code` and a short `reason` (at most 123 bytes of
 * UTF-8). `masked` for frames towards a server (client to server frames
 * must be masked, §5.3).
 */
export function closeFrame(code: number, reason: string, masked: boolean): Buffer {
  const text = Buffer.from(reason, 'utf8').subarray(0, 123)
  const payload = Buffer.alloc(2 + text.length)
  payload.writeUInt16BE(code, 0)
  text.copy(payload, 2)
  const header = Buffer.from([0x80 | CLOSE_OPCODE, (masked ? 0x80 : 0) | payload.length])
  if (!masked) return Buffer.concat([header, payload])
  const key = randomBytes(4)
  for (let i = 0; i < payload.length; i++) payload[i]! ^= key[i & 3]!
  return Buffer.concat([header, key, payload])
}
