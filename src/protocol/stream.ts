import { encodeData, encodeEnd, encodeHead, encodeReset, encodeTrailers, encodeWindow } from './encode.js'
import { INITIAL_WINDOW, MAX_DATA_PAYLOAD, type ResponseHead, type TrailerFields } from './frame.js'

/**
 * What a stream's owner is told. One object per stream (not one closure per
 * chunk): the session calls these as frames arrive.
 */
export interface StreamHandler {
  /** Response head (server side only). */
  onHead?(head: ResponseHead): void
  /** Body bytes: a view into the received message. Call `stream.consumed(n)` once they left for their destination. */
  onData(chunk: Buffer): void
  /** Trailer fields that end the peer's body (a TRAILERS frame); `onEnd` follows at once. */
  onTrailers?(trailers: TrailerFields): void
  /** The peer's body is complete. */
  onEnd(): void
  /** The stream was aborted (by the peer, by the connection closing, or by a protocol error). */
  onReset(code: number, reason: string): void
  /** A write that returned false may now continue. */
  onDrain(): void
}

/** What the proxy holds of a stream, whichever protocol carries it. */
export interface OpenedStream {
  readonly id: number
  write(chunk: Buffer): boolean
  end(): void
  /** Ends the body with trailer fields; where they cannot be carried (a peer without `trailers`, adit.json.v1) a plain end. */
  endWithTrailers?(trailers: TrailerFields): void
  /** The peer said, for this stream only, that it takes TRAILERS (a relay link: see RequestHead.trailers). */
  allowTrailers?(): void
  reset(code: number, reason?: string): void
  consumed(n: number): void
}

/** The part of a session a stream needs; kept narrow so streams are testable alone. */
export interface StreamOwner {
  send(frame: Buffer): void
  /** True while the transport holds more than its high-water mark. */
  readonly congested: boolean
  /** The peer negotiated `end-flag`: END may ride on HEAD and on the last DATA frame. */
  readonly foldEnd: boolean
  /** The peer negotiated `trailers`: a body may end with a TRAILERS frame. */
  readonly carriesTrailers: boolean
  /** The stream is waiting for credit or for the transport. */
  block(stream: Stream): void
  /** Both directions are finished or the stream was reset: forget it. */
  release(stream: Stream): void
  /** `count` DATA frames this stream held are drained (all their bytes consumed). */
  framesDrained?(count: number): void
}

/**
 * One request/response exchange on a session, with a send window and a
 * receive window in bytes (the flow control of docs/protocol.md).
 *
 * Sending: `write` sends what the peer's credit allows and keeps the rest as
 * views (never copies); it returns false once the caller must wait for
 * `onDrain`. Receiving: the handler gets views; `consumed(n)` returns credit
 * in coalesced WINDOW frames once half the window has drained.
 */
export class Stream implements OpenedStream {
  readonly id: number
  handler: StreamHandler
  /** Bytes the peer still lets us send. */
  sendWindow: number
  /** Bytes we still let the peer send before it must wait for a WINDOW. */
  recvWindow: number
  /** Response head seen (server side). */
  headReceived = false
  localEnded = false
  remoteEnded = false
  closed = false
  /** Counted in the session's heavyStreams (more than INITIAL_WINDOW received). */
  heavy = false
  /** Counters for logs and metrics. */
  bytesSent = 0
  bytesReceived = 0
  /** Received bytes not yet `consumed`, and the DATA frames that brought them (the per-frame cost the session budgets). */
  unconsumed = 0
  heldFrames = 0

  private readonly owner: StreamOwner
  /** Extra credit granted once, with the first WINDOW: the receiver's window beyond INITIAL_WINDOW. */
  private boost: number
  private unacked = 0
  private pending: Buffer[] = []
  private endPending = false
  /** Trailers to send as the END once the bytes waiting for credit are out. */
  private trailersPending: TrailerFields | null = null
  /** The peer takes TRAILERS on this stream whatever the connection negotiated. */
  private trailersAllowed = false
  private wantsDrain = false

  constructor(id: number, owner: StreamOwner, handler: StreamHandler, windowSize = INITIAL_WINDOW) {
    this.id = id
    this.owner = owner
    this.handler = handler
    this.boost = Math.max(0, windowSize - INITIAL_WINDOW)
    this.sendWindow = INITIAL_WINDOW
    this.recvWindow = INITIAL_WINDOW
  }

  /** Sends body bytes. Returns false when the caller should wait for `onDrain` before writing more. */
  write(chunk: Buffer): boolean {
    if (this.localEnded || this.closed) return false
    if (chunk.length === 0) return this.pending.length === 0
    if (this.pending.length > 0) {
      this.pending.push(chunk)
      this.wantsDrain = true
      return false
    }
    const sent = this.sendNow(chunk)
    if (sent < chunk.length) {
      this.pending.push(sent === 0 ? chunk : chunk.subarray(sent))
      this.wantsDrain = true
      this.owner.block(this)
      return false
    }
    if (this.sendWindow === 0 || this.owner.congested) {
      this.wantsDrain = true
      this.owner.block(this)
      return false
    }
    return true
  }

  /** Agent side: the response head. Sent once, before any DATA. `end`: there is no body (HEAD carries END). */
  sendHead(head: ResponseHead, end = false): void {
    if (this.closed || this.localEnded) return
    if (end && this.owner.foldEnd) {
      this.localEnded = true
      this.owner.send(encodeHead(this.id, head, true))
      this.maybeRelease()
      return
    }
    this.owner.send(encodeHead(this.id, head))
    if (end) this.end()
  }

  /**
   * Sends the body's last bytes and ends it: one DATA frame flagged END
   * when the peer negotiated `end-flag` and credit allows, else `write`
   * then `end` (END follows once the bytes are sent).
   */
  writeLast(chunk: Buffer): void {
    if (this.localEnded || this.closed) return
    if (this.owner.foldEnd && this.pending.length === 0 && chunk.length > 0) {
      const sent = this.sendNow(chunk, true)
      if (sent === chunk.length) {
        this.localEnded = true
        this.maybeRelease()
        return
      }
      this.pending.push(sent === 0 ? chunk : chunk.subarray(sent))
      this.owner.block(this)
    } else {
      this.write(chunk)
    }
    this.end()
  }

  /** This side's body is complete. Sent after any bytes still waiting for credit. */
  end(): void {
    if (this.localEnded || this.closed) return
    if (this.pending.length > 0) {
      this.endPending = true
      return
    }
    this.localEnded = true
    const trailers = this.trailersPending
    this.trailersPending = null
    this.owner.send(trailers === null ? encodeEnd(this.id) : encodeTrailers(this.id, trailers))
    this.maybeRelease()
  }

  /**
   * Ends the body with trailer fields: one TRAILERS frame (which is also the
   * END), after any bytes still waiting for credit. Without `trailers`
   * negotiated, or with no fields, a plain END: the peer could not decode the frame.
   */
  endWithTrailers(trailers: TrailerFields): void {
    if (this.localEnded || this.closed) return
    if (trailers.length > 0 && (this.trailersAllowed || this.owner.carriesTrailers)) this.trailersPending = trailers
    this.end()
  }

  /** This stream's peer takes TRAILERS though the connection did not negotiate them (a relay link, told per stream). */
  allowTrailers(): void {
    this.trailersAllowed = true
  }

  /** Aborts the stream on both sides. The handler is not called: the caller knows. */
  reset(code: number, reason = ''): void {
    if (this.closed) return
    this.owner.send(encodeReset(this.id, code, reason))
    this.close()
  }

  /** Returns credit for `n` received bytes that have left for their destination. */
  consumed(n: number): void {
    if (this.heldFrames > 0) {
      this.unconsumed -= n
      if (this.unconsumed <= 0) {
        this.unconsumed = 0
        const frames = this.heldFrames
        this.heldFrames = 0
        this.owner.framesDrained?.(frames)
      }
    }
    if (this.closed || this.remoteEnded) return
    this.unacked += n
    if (this.unacked >= INITIAL_WINDOW >>> 1) {
      // A receiver that wants a larger window than the protocol's initial one
      // adds the difference to its first grant: small exchanges never pay
      // for a WINDOW frame, long transfers get the larger window after 128 KiB.
      const grant = this.unacked + this.boost
      this.boost = 0
      this.recvWindow += grant
      this.owner.send(encodeWindow(this.id, grant))
      this.unacked = 0
    }
  }

  /** Session: the peer granted `increment` more bytes. */
  grant(increment: number): void {
    this.sendWindow += increment
    this.flush()
  }

  /** Session: credit or transport room may be available again. */
  flush(): void {
    if (this.closed) return
    while (this.pending.length > 0) {
      const chunk = this.pending[0]!
      const sent = this.sendNow(chunk)
      if (sent < chunk.length) {
        this.pending[0] = chunk.subarray(sent)
        this.owner.block(this)
        return
      }
      this.pending.shift()
    }
    if (this.endPending) {
      this.endPending = false
      this.end()
      if (this.closed) return
    }
    if (this.wantsDrain && this.sendWindow > 0 && !this.owner.congested) {
      this.wantsDrain = false
      this.handler.onDrain()
    } else if (this.wantsDrain) {
      this.owner.block(this)
    }
  }

  /** Session: marks the remote body complete. */
  remoteEnd(): void {
    this.remoteEnded = true
    this.maybeRelease()
  }

  /** Session: the stream is over without a handler call (the caller reports it). */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.pending.length = 0
    this.trailersPending = null
    this.owner.release(this)
  }

  get hasPending(): boolean {
    return this.pending.length > 0
  }

  /** `last`: flag the frame that completes `chunk` with END. */
  private sendNow(chunk: Buffer, last = false): number {
    let sent = 0
    while (sent < chunk.length && this.sendWindow > 0 && !this.owner.congested) {
      const n = Math.min(chunk.length - sent, this.sendWindow, MAX_DATA_PAYLOAD)
      const view = sent === 0 && n === chunk.length ? chunk : chunk.subarray(sent, sent + n)
      this.owner.send(encodeData(this.id, view, last && sent + n === chunk.length))
      this.sendWindow -= n
      this.bytesSent += n
      sent += n
    }
    return sent
  }

  private maybeRelease(): void {
    if (this.localEnded && this.remoteEnded) this.close()
  }
}
