import { decodeHead, decodeReset, decodeTrailers } from './decode.js'
import { encodeEnd, encodeHead, encodeReset, encodeTrailers, encodeWindow } from './encode.js'
import { INITIAL_WINDOW, MAX_DATA_PAYLOAD, MAX_STREAM_WINDOW, type ResponseHead, type TrailerFields } from './frame.js'

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
  /** Sends a DATA frame (without first copying `payload` into a frame buffer where the transport can: Transport.sendData). */
  sendData(streamId: number, payload: Buffer, end: boolean, blocked: boolean): void
  /** True while the transport holds more than its high-water mark. */
  readonly congested: boolean
  /** The peer negotiated `end-flag`: END may ride on HEAD and on the last DATA frame. */
  readonly foldEnd: boolean
  /** The peer negotiated `trailers`: a body may end with a TRAILERS frame. */
  readonly carriesTrailers: boolean
  /** The peer negotiated `window-blocked`: a DATA frame that spends the last credit says so. */
  readonly signalsBlocked?: boolean
  /** The stream is waiting for credit or for the transport. */
  block(stream: Stream): void
  /** Both directions are finished or the stream was reset: forget it, and the `heldFrames` DATA frames it still held. */
  release(stream: Stream, heldFrames: number): void
  /** `count` DATA frames this stream held are drained (all their bytes consumed). */
  framesDrained?(count: number): void
  /** A stream moving bulk asks for `bytes` more receive window; returns how much of it the connection's budget allows (0: none). */
  growWindow?(bytes: number): number
}

/**
 * Where a stream is in its life (yamux's StreamState, HTTP/2's half-closed
 * states). Only the stream changes it; the session and the proxy read it
 * through `localEnded`, `remoteEnded` and `closed`.
 *
 *   OPEN ──end sent──→ LOCAL_ENDED ──end received──→ ENDED
 *   OPEN ──end received──→ REMOTE_ENDED ──end sent──→ ENDED
 *   any but ENDED ──reset either way, connection lost──→ RESET
 *
 * ENDED and RESET are final: the stream is released from its session, and
 * every later call is ignored (a second END received is a stream error).
 */
export const StreamState = {
  /** Both bodies still flowing. */
  OPEN: 0,
  /** This side's body is complete (END sent); the peer's is still coming. */
  LOCAL_ENDED: 1,
  /** The peer's body is complete (END received); this side's is still going. */
  REMOTE_ENDED: 2,
  /** Both bodies complete. */
  ENDED: 3,
  /** Aborted: a RESET sent or received, a stream error, or the connection closed. */
  RESET: 4,
} as const
export type StreamState = (typeof StreamState)[keyof typeof StreamState]

/**
 * One request/response exchange on a session, with a send window and a
 * receive window in bytes (the flow control of docs/protocol.md).
 *
 * Sending: `write` sends what the peer's credit allows and keeps the rest as
 * views (never copies); it returns false once the caller must wait for
 * `onDrain`. Receiving: the session hands the stream its frames
 * (`receive*`), which check them against the state, update the window and
 * call the handler; `consumed(n)` returns credit in coalesced WINDOW frames
 * once half the window has drained.
 */
export class Stream implements OpenedStream {
  readonly id: number
  /** Who is told what arrives; the session sets it once the stream's owner is known (agent side: onStream). */
  handler: StreamHandler
  /** Counters for logs and metrics. */
  bytesSent = 0
  bytesReceived = 0

  private streamState: StreamState = StreamState.OPEN
  private readonly owner: StreamOwner
  /** This side opened the stream (the server): a response HEAD comes before any body. */
  private readonly awaitsHead: boolean
  private finalHeadReceived = false
  private sendCredit: number
  private recvCredit: number
  private isHeavy = false
  /** Received bytes not yet `consumed`, and the DATA frames that brought them (the per-frame cost the session budgets). */
  private unconsumedBytes = 0
  private heldFrameCount = 0
  /** Extra credit granted once, with the first WINDOW: the receiver's window beyond INITIAL_WINDOW. */
  private boost: number
  /** The receive window this side grants: INITIAL_WINDOW + boost at first, more once it grows (see consumed). */
  private recvWindowSize: number
  /** Window added by growth, owed back to the owner's budget when the stream is released. */
  private grown = 0
  /** Since the last grant, received bytes waited for a slow destination (the window is not what limits the sender). */
  private backlogged = false
  /** Since the last grant, the peer said it ran out of credit (FLAG_BLOCKED). */
  private peerBlocked = false
  private unacked = 0
  private pending: Buffer[] = []
  private endPending = false
  /** Trailers to send as the END once the bytes waiting for credit are out. */
  private trailersPending: TrailerFields | null = null
  /** The peer takes TRAILERS on this stream whatever the connection negotiated. */
  private trailersAllowed = false
  private wantsDrain = false

  /** `awaitsHead`: this side opened the stream (the server), so the peer's body follows a response HEAD. */
  constructor(id: number, owner: StreamOwner, handler: StreamHandler, windowSize = INITIAL_WINDOW, awaitsHead = false) {
    this.id = id
    this.owner = owner
    this.handler = handler
    this.awaitsHead = awaitsHead
    this.boost = Math.max(0, windowSize - INITIAL_WINDOW)
    this.recvWindowSize = INITIAL_WINDOW + this.boost
    this.sendCredit = INITIAL_WINDOW
    this.recvCredit = INITIAL_WINDOW
  }

  get state(): StreamState {
    return this.streamState
  }

  /** This side's body is complete (END sent, or folded into the OPEN/HEAD/DATA that carried it). */
  get localEnded(): boolean {
    return this.streamState === StreamState.LOCAL_ENDED || this.streamState === StreamState.ENDED
  }

  /** The peer's body is complete. */
  get remoteEnded(): boolean {
    return this.streamState === StreamState.REMOTE_ENDED || this.streamState === StreamState.ENDED
  }

  /** Ended both ways or reset: released from the session, nothing more is sent or delivered. */
  get closed(): boolean {
    return this.streamState >= StreamState.ENDED
  }

  /** The final response head arrived (server side). */
  get headReceived(): boolean {
    return this.finalHeadReceived
  }

  /** Bytes the peer still lets us send. */
  get sendWindow(): number {
    return this.sendCredit
  }

  /** Bytes we still let the peer send before it must wait for a WINDOW. */
  get recvWindow(): number {
    return this.recvCredit
  }

  /** Counted in the session's heavyStreams (more than INITIAL_WINDOW received). */
  get heavy(): boolean {
    return this.isHeavy
  }

  /** Received DATA frames whose bytes are not all consumed yet. */
  get heldFrames(): number {
    return this.heldFrameCount
  }

  /** Sends body bytes. Returns false when the caller should wait for `onDrain` before writing more. */
  write(chunk: Buffer): boolean {
    if (this.streamState !== StreamState.OPEN && this.streamState !== StreamState.REMOTE_ENDED) return false
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
    if (this.sendCredit === 0 || this.owner.congested) {
      this.wantsDrain = true
      this.owner.block(this)
      return false
    }
    return true
  }

  /** Agent side: the response head. Sent once, before any DATA. `end`: there is no body (HEAD carries END). */
  sendHead(head: ResponseHead, end = false): void {
    if (!this.sending) return
    if (end && this.owner.foldEnd) {
      this.owner.send(encodeHead(this.id, head, true))
      this.endLocal()
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
    if (!this.sending) return
    if (this.owner.foldEnd && this.pending.length === 0 && chunk.length > 0) {
      const sent = this.sendNow(chunk, true)
      if (sent === chunk.length) {
        this.endLocal()
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
    if (!this.sending) return
    if (this.pending.length > 0) {
      this.endPending = true
      return
    }
    const trailers = this.trailersPending
    this.trailersPending = null
    this.owner.send(trailers === null ? encodeEnd(this.id) : encodeTrailers(this.id, trailers))
    this.endLocal()
  }

  /**
   * Session: the OPEN that created this stream carried END (a bodiless
   * request): this side's body is complete without a frame of its own.
   */
  endedByOpen(): void {
    if (this.streamState === StreamState.OPEN) this.endLocal()
  }

  /**
   * Ends the body with trailer fields: one TRAILERS frame (which is also the
   * END), after any bytes still waiting for credit. Without `trailers`
   * negotiated, or with no fields, a plain END: the peer could not decode the frame.
   */
  endWithTrailers(trailers: TrailerFields): void {
    if (!this.sending) return
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
    if (this.heldFrameCount > 0) {
      this.unconsumedBytes -= n
      if (this.unconsumedBytes <= 0) {
        this.unconsumedBytes = 0
        const frames = this.heldFrameCount
        this.heldFrameCount = 0
        this.owner.framesDrained?.(frames)
      }
    }
    if (this.streamState !== StreamState.OPEN && this.streamState !== StreamState.LOCAL_ENDED) return
    this.unacked += n
    if (this.unacked >= INITIAL_WINDOW >>> 1) {
      // A receiver that wants a larger window than the protocol's initial one
      // adds the difference to its first grant: small exchanges never pay
      // for a WINDOW frame, long transfers get the larger window after 128 KiB.
      let grant = this.unacked + this.boost
      if (this.boost === 0) grant += this.growth()
      this.boost = 0
      this.backlogged = false
      this.peerBlocked = false
      this.recvCredit += grant
      this.owner.send(encodeWindow(this.id, grant))
      this.unacked = 0
    }
  }

  /** The receive window this side grants the peer (it grows for bulk: see `growth`). */
  get recvWindowLimit(): number {
    return this.recvWindowSize
  }

  /** Receive window added by growth (what release gives back to the owner's budget). */
  get grownWindow(): number {
    return this.grown
  }

  /**
   * Receive-window autotuning, as QUIC stacks do it with
   * STREAM_DATA_BLOCKED: when the sender said it ran out of credit
   * (FLAG_BLOCKED) while this side's destination kept up (nothing backed up
   * since the last grant), the window, not the path or either end, is what
   * limits the transfer — it is below the bandwidth-delay product. It then
   * doubles, up to MAX_STREAM_WINDOW and within the owner's budget for all
   * its streams. (Credit outstanding cannot tell this by itself: granted
   * credit on its way back counts the same as credit the sender holds.)
   */
  private growth(): number {
    if (!this.peerBlocked || this.backlogged || this.recvWindowSize >= MAX_STREAM_WINDOW || this.owner.growWindow === undefined) return 0
    const extra = this.owner.growWindow(Math.min(this.recvWindowSize, MAX_STREAM_WINDOW - this.recvWindowSize))
    this.recvWindowSize += extra
    this.grown += extra
    return extra
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
    if (this.wantsDrain && this.sendCredit > 0 && !this.owner.congested) {
      this.wantsDrain = false
      this.handler.onDrain()
    } else if (this.wantsDrain) {
      this.owner.block(this)
    }
  }

  // Frames from the peer, handed over by the session. Each returns null, or
  // why the frame breaks this stream's state machine (the session then resets
  // the stream with PROTOCOL_ERROR and counts it).

  /** A HEAD frame: interim heads (100, 102, 103 …) may come before the final one; 101 is final (an upgrade). */
  receiveHead(payload: Buffer, end: boolean): string | null {
    if (!this.awaitsHead || this.finalHeadReceived) return 'unexpected HEAD'
    const head = decodeHead(payload)
    if (head.status >= 200 || head.status === 101) this.finalHeadReceived = true
    // END on an interim head would end a response that has not begun.
    if (end && !this.finalHeadReceived) return 'END flag on an interim HEAD'
    this.handler.onHead?.(head)
    return end ? this.receiveEnd() : null
  }

  /**
   * A DATA frame's bookkeeping, before the session budgets the connection:
   * state, head and window checked, the window spent, the frame held until
   * its bytes are consumed. `deliverData` then hands the bytes over.
   */
  acceptData(length: number): string | null {
    if (this.remoteEnded) return 'DATA after END'
    if (this.awaitsHead && !this.finalHeadReceived) return 'DATA before HEAD'
    if (length > this.recvCredit) return `DATA of ${length} bytes exceeds the ${this.recvCredit}-byte window`
    this.recvCredit -= length
    this.bytesReceived += length
    this.unconsumedBytes += length
    if (this.unconsumedBytes > this.recvWindowSize >>> 1) this.backlogged = true
    this.heldFrameCount++
    return null
  }

  /** Session: this stream now counts among the heavy ones (more than INITIAL_WINDOW received). Returns false if it already did. */
  markHeavy(): boolean {
    if (this.isHeavy || this.bytesReceived <= INITIAL_WINDOW) return false
    this.isHeavy = true
    return true
  }

  /** The bytes of a DATA frame `acceptData` took (a view into the message); `end`: the frame carried END, `blocked`: FLAG_BLOCKED. */
  deliverData(payload: Buffer, end: boolean, blocked = false): string | null {
    if (blocked) this.peerBlocked = true
    this.handler.onData(payload)
    return end && !this.closed ? this.receiveEnd() : null
  }

  /** END, alone or as FLAG_END on OPEN/HEAD/DATA/TRAILERS. */
  receiveEnd(): string | null {
    if (this.awaitsHead && !this.finalHeadReceived) return 'END before HEAD'
    switch (this.streamState) {
      case StreamState.OPEN:
        this.streamState = StreamState.REMOTE_ENDED
        break
      case StreamState.LOCAL_ENDED:
        this.finish()
        break
      case StreamState.REMOTE_ENDED:
        return 'END twice'
      default:
        return null
    }
    this.handler.onEnd()
    return null
  }

  /** A TRAILERS frame: the fields, then the end of the peer's body. */
  receiveTrailers(payload: Buffer): string | null {
    if (this.awaitsHead && !this.finalHeadReceived) return 'TRAILERS before HEAD'
    if (this.remoteEnded) return 'TRAILERS after END'
    this.handler.onTrailers?.(decodeTrailers(payload))
    return this.closed ? null : this.receiveEnd()
  }

  /** A RESET frame: the stream is over, and its handler is told why. */
  receiveReset(payload: Buffer): void {
    const { code, reason } = decodeReset(payload)
    this.close()
    this.handler.onReset(code, reason)
  }

  /** A WINDOW frame: the peer granted `increment` more bytes. */
  receiveWindow(increment: number): string | null {
    if (increment === 0 || this.sendCredit + increment > 0x7fff_ffff) return `bad WINDOW increment ${increment}`
    this.sendCredit += increment
    this.flush()
    return null
  }

  /** The stream is over without a handler call (the caller reports it): RESET, from any state but ENDED. */
  close(): void {
    if (this.closed) return
    this.streamState = StreamState.RESET
    this.release()
  }

  get hasPending(): boolean {
    return this.pending.length > 0
  }

  /** This side may still send: its body is not complete and the stream is not over. */
  private get sending(): boolean {
    return this.streamState === StreamState.OPEN || this.streamState === StreamState.REMOTE_ENDED
  }

  /** This side's body is complete: OPEN → LOCAL_ENDED, REMOTE_ENDED → ENDED. */
  private endLocal(): void {
    if (this.streamState === StreamState.OPEN) this.streamState = StreamState.LOCAL_ENDED
    else if (this.streamState === StreamState.REMOTE_ENDED) this.finish()
  }

  /** Both bodies are complete. */
  private finish(): void {
    this.streamState = StreamState.ENDED
    this.release()
  }

  /** Into a final state: nothing pending is sent, and the session forgets the stream and the frames it held. */
  private release(): void {
    this.pending.length = 0
    this.trailersPending = null
    const held = this.heldFrameCount
    this.heldFrameCount = 0
    this.owner.release(this, held)
  }

  /** `last`: flag the frame that completes `chunk` with END. */
  private sendNow(chunk: Buffer, last = false): number {
    let sent = 0
    while (sent < chunk.length && this.sendCredit > 0 && !this.owner.congested) {
      const n = Math.min(chunk.length - sent, this.sendCredit, MAX_DATA_PAYLOAD)
      const view = sent === 0 && n === chunk.length ? chunk : chunk.subarray(sent, sent + n)
      const ends = last && sent + n === chunk.length
      // The frame that spends the last credit of a body that goes on says so (FLAG_BLOCKED).
      const blocked = !ends && n === this.sendCredit && this.owner.signalsBlocked === true
      this.owner.sendData(this.id, view, ends, blocked)
      this.sendCredit -= n
      this.bytesSent += n
      sent += n
    }
    return sent
  }
}
