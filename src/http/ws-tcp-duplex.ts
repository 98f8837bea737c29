import { Duplex } from 'node:stream'
import type { RawData, WebSocket } from 'ws'

/** The WebSocket subprotocol a TCP visitor offers (docs/protocol.md, "The visitor's side"). */
export const TCP_SUBPROTOCOL = 'adit.tcp.v1'

/** Close codes of `adit.tcp.v1`. */
export const TcpCloseCode = {
  /** Both directions ended: the connection is over. */
  DONE: 1000,
  /** The server is draining (going away): the connection cannot move, so it ends; a new one goes to another instance. */
  GOING_AWAY: 1001,
  /** A reset (or a failed socket) on the other side. */
  RESET: 4000,
} as const

/** The text message that is a FIN. */
const END_MESSAGE = 'end'
/** Largest binary message sent: under the 1 MiB both ends accept, and small enough to interleave. */
const MAX_MESSAGE = 256 * 1024

/** The other side reset the connection (its socket failed, or the WebSocket was lost): `code` ECONNRESET like a TCP reset. */
export class TcpResetError extends Error {
  readonly code = 'ECONNRESET'
  constructor(reason: string) {
    super(reason)
    this.name = 'TcpResetError'
  }
}

/**
 * A TCP connection's bytes over a WebSocket (`adit.tcp.v1`), as a Duplex
 * with TCP's semantics, so it pipes like a socket: binary messages are the
 * bytes; `end()` sends the text message `end` (a FIN) and reading goes on
 * until the other side's `end`; once both ended the WebSocket closes with
 * 1000. `destroy()` before that (or with an error) closes it with 4000, and a
 * 4000 or a lost WebSocket from the other side destroys this one with a
 * TcpResetError: resets pass through.
 *
 * Backpressure both ways: a write's callback waits until the WebSocket wrote
 * it to its socket, so `write()` returns false while the network is slow; a
 * full read buffer pauses the WebSocket (TCP's window then stops the peer).
 */
export class WsTcpDuplex extends Duplex {
  private readonly ws: WebSocket
  private paused = false
  private gotEnd = false
  /** The FIN was handed to the WebSocket (its write callback may come after the peer's close). */
  private sentEnd = false

  constructor(ws: WebSocket) {
    super({ allowHalfOpen: true, readableHighWaterMark: 256 * 1024, writableHighWaterMark: 256 * 1024 })
    this.ws = ws
    ws.on('message', this.onMessage)
    ws.on('close', this.onClose)
    // A protocol error or a lost socket: 'close' follows with its code.
    ws.on('error', () => {})
  }

  override _read(): void {
    if (!this.paused) return
    this.paused = false
    this.ws.resume()
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.send(chunk, callback)
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    const last = chunks.length - 1
    for (let i = 0; i < last; i++) this.send(chunks[i]!.chunk, undefined)
    this.send(chunks[last]!.chunk, callback)
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.ws.readyState !== this.ws.OPEN) return callback(new TcpResetError('the WebSocket closed before the end was sent'))
    this.sentEnd = true
    this.ws.send(END_MESSAGE, { binary: false }, (error) => {
      callback(error)
      this.closeIfDone()
    })
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const ws = this.ws
    if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) {
      if (error === null && this.gotEnd && this.sentEnd) ws.close(TcpCloseCode.DONE)
      else ws.close(TcpCloseCode.RESET, (error?.message ?? 'closed').slice(0, 120))
    }
    callback(error)
  }

  /**
   * The server's side is going away (a drain): the WebSocket is closed with
   * 1001 and `reason`, and this stream destroyed (the TCP connection inside
   * cannot move; the other side sees it end with a TcpResetError saying why).
   */
  goAway(reason: string): void {
    const ws = this.ws
    if (ws.readyState === ws.OPEN) ws.close(TcpCloseCode.GOING_AWAY, reason.slice(0, 120))
    this.destroy()
  }

  private send(chunk: Buffer, callback: ((error?: Error) => void) | undefined): void {
    if (this.ws.readyState !== this.ws.OPEN) {
      callback?.(new TcpResetError('the WebSocket is closed'))
      return
    }
    for (let at = 0; at < chunk.length; at += MAX_MESSAGE) {
      const end = Math.min(chunk.length, at + MAX_MESSAGE)
      this.ws.send(at === 0 && end === chunk.length ? chunk : chunk.subarray(at, end), { binary: true }, end === chunk.length ? callback : undefined)
    }
  }

  /** Both directions ended: close the WebSocket (the other side may close first; either is normal). */
  private closeIfDone(): void {
    if (this.gotEnd && this.sentEnd && this.ws.readyState === this.ws.OPEN) this.ws.close(TcpCloseCode.DONE)
  }

  private readonly onMessage = (data: RawData, isBinary: boolean): void => {
    if (this.gotEnd) return
    if (!isBinary) {
      if (data.toString() !== END_MESSAGE) return void this.destroy(new TcpResetError('unknown adit.tcp.v1 text message'))
      this.gotEnd = true
      this.push(null)
      this.closeIfDone()
      return
    }
    if (!this.push(data as Buffer) && !this.paused) {
      this.paused = true
      this.ws.pause()
    }
  }

  private readonly onClose = (code: number, reason: Buffer): void => {
    // A normal close comes after both ends: what is still buffered is read out, then autoDestroy.
    if (code === TcpCloseCode.DONE && this.gotEnd) {
      if (!this.sentEnd && !this.destroyed) this.destroy(new TcpResetError('the other side closed before this side ended'))
      return
    }
    const text = reason.length > 0 ? reason.toString() : `WebSocket closed (${code})`
    if (!this.destroyed) this.destroy(new TcpResetError(code === TcpCloseCode.GOING_AWAY ? `${text} (${code})` : text))
  }
}
