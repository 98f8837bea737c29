import { decodeFrame, decodeGoAway, decodeOpen, decodeU32 } from './decode.js'
import { encodeData, encodeGoAway, encodeOpen } from './encode.js'
import { ProtocolError, ProtocolErrorCode } from './errors.js'
import { FrameType, INITIAL_WINDOW, MAX_STREAM_ID, ResetCode, type RequestHead } from './frame.js'
import { Stream, type OpenedStream, type StreamHandler, type StreamOwner } from './stream.js'

/** What a session writes to: a WebSocket in production, an array in tests. */
export interface Transport {
  /**
   * Sends one whole frame as one message. `onSent` (when given) runs once it
   * left the process — never synchronously from inside `send` (the session
   * may be mid-write), and by then `bufferedAmount` no longer counts it, as in ws.
   * `route` comes with an OPEN only: where the stream goes beyond the
   * transport's peer (a relay's tunnel id, in its envelope); a WebSocket
   * has one agent behind it and ignores it.
   */
  send(frame: Buffer | string, onSent?: (err?: Error) => void, route?: Buffer): void
  /**
   * Optional: sends one DATA frame as `send(encodeData(...))` would, but
   * writes the frame's header and the caller's `payload` side by side
   * instead of copying the payload into one buffer (a WebSocket that can
   * frame the message itself). The payload is a view the caller keeps
   * unchanged, as bytes waiting for credit are.
   */
  sendData?(streamId: number, payload: Buffer, end: boolean, blocked: boolean, onSent?: (err?: Error | null) => void): void
  /** Bytes accepted by `send` but not yet written to the socket. */
  readonly bufferedAmount: number
}

/** What opens streams for the proxy: an agent connection here, or a relay to the instance that has the agent. */
export interface StreamOpener {
  openStream(head: RequestHead, handler: StreamHandler): OpenedStream | null
  readonly activeStreams: number
  /** No new streams here (the proxy looks elsewhere). */
  readonly goingAway: boolean
  readonly closed: boolean
  /** Where set (a relay to another instance), a request body waits this long for the far end's interim 100 before it is sent anyway. */
  readonly continueTimeoutMs?: number
}

/** What an agent connection is, whichever protocol it speaks: it opens streams, is fed its transport's messages, and shuts down. */
export interface StreamConnection extends StreamOpener {
  goAway(code: number, advisory?: boolean): void
  /** The server asked the agent to move (advisory GOAWAY) but still opens streams here. */
  readonly moveRequested?: boolean
  /** The agent asked to drain this connection; the server has not answered yet (see Session.drain). */
  readonly peerGoingAway?: boolean
  /** Bulk transfers in flight (see Session.heavyStreams); 0 where not tracked. */
  readonly heavyStreams?: number
  receive(message: Buffer): void
  close(reason?: string): void
}

export type SessionRole = 'server' | 'agent'

export interface SessionOptions {
  role: SessionRole
  /** Agent side: a new stream was opened by the server; return its handler. `route`: what its transport carried with the OPEN (see Session.receive). */
  onStream?: (stream: Stream, head: RequestHead, route?: string) => StreamHandler
  /** The peer sent GOAWAY: from the server, "move"; from the agent, "drain me" (already answered). */
  onGoAway?: (code: number, lastStreamId: number) => void
  /** A frame broke the protocol badly enough that the connection must close. */
  onProtocolError?: (error: ProtocolError) => void
  /** Receive window per stream (bytes, ≥ INITIAL_WINDOW): the first WINDOW grant raises the peer's credit to it. */
  streamWindow?: number
  /**
   * Receive window the streams of this connection may grow into beyond
   * `streamWindow`, all together (bytes; see Stream's autotuning). What the
   * connection can be made to hold is bounded by streams × streamWindow +
   * this. 0: windows never grow.
   */
  windowGrowthBudget?: number
  /** Transport buffer above which writers are paused (bytes). */
  highWaterMark?: number
  /** Transport buffer below which paused writers resume (bytes). */
  lowWaterMark?: number
  /**
   * DATA frames the connection may hold undrained (received, their bytes not
   * yet consumed) across its streams. Credit counts bytes, so a peer could
   * spend a window as one-byte frames, each costing a frame's work and
   * bookkeeping; past this budget the connection is closed (FLOW_CONTROL).
   */
  maxHeldFrames?: number
  /**
   * A clock (ms), to budget small DATA frames over time: a peer may send
   * `smallFrameBurst` frames under `smallFrameBytes`, refilled at
   * `smallFrameRate` per second; past that the connection is closed
   * (FLOW_CONTROL). Without a clock there is no such budget.
   */
  now?: () => number
  smallFrameBytes?: number
  smallFrameRate?: number
  smallFrameBurst?: number
  /** The peer negotiated `end-flag` (FLAG_END on OPEN/HEAD/DATA); see also `enableEndFlag`. Frames with the flag are accepted either way. */
  endFlag?: boolean
  /** The peer negotiated `trailers` (TRAILERS frames may be sent to it); see also `enableTrailers`. TRAILERS received are accepted either way. */
  trailers?: boolean
  /** The peer negotiated `window-blocked` (FLAG_BLOCKED may be sent to it); see also `enableWindowBlocked`. The flag received is heeded either way. */
  windowBlocked?: boolean
}

export const sessionDefaults = {
  /** What adit's server and agent use: 1 MiB doubled loopback throughput over the protocol's 256 KiB start. */
  streamWindow: 1024 * 1024,
  /** 32 MiB: four streams at the 8 MiB maximum, or many at 2–4 MiB. */
  windowGrowthBudget: 32 * 1024 * 1024,
  highWaterMark: 1024 * 1024,
  lowWaterMark: 256 * 1024,
  /** 64 Ki frames: a 1 MiB window in frames of 16 bytes or more never reaches it. */
  maxHeldFrames: 65_536,
  /** Frames under 1 KiB count as small: a server-sent event, a trickled chunk, a flood. */
  smallFrameBytes: 1024,
  /** 20,000 small frames a second per connection (after a burst of 100,000): far above any trickle, far below a flood. */
  smallFrameRate: 20_000,
  smallFrameBurst: 100_000,
} as const

/**
 * Where a connection is in its shutdown (HTTP/2's two-step GOAWAY). Only the
 * session changes it: `goAway`, `drain`, a GOAWAY received, `close`.
 *
 *   server: OPEN ─goAway(advisory)→ MOVE_REQUESTED ─agent's GOAWAY→ GOING_AWAY
 *           OPEN, MOVE_REQUESTED ─drain→ DRAINING ─agent's GOAWAY→ PEER_LEAVING ─goAway→ GOING_AWAY
 *   agent:  OPEN ─server's GOAWAY→ PEER_LEAVING ─goAway→ GOING_AWAY
 *   either: any ─goAway (final)→ GOING_AWAY;  any ─close→ CLOSED
 *
 * Transitions that do not appear are ignored (a second GOAWAY, goAway once
 * going away, anything once closed), as the wire allows repeats.
 */
export const SessionState = {
  /** Taking streams. */
  OPEN: 0,
  /** Server: an advisory GOAWAY asked the agent to move; streams still open here, and the agent's GOAWAY is answered at once. */
  MOVE_REQUESTED: 1,
  /**
   * Server: draining. The agent was asked to move, but its GOAWAY is not
   * answered until the owner calls goAway(): streams still open here, so
   * requests arriving on this instance's keep-alive sockets are served.
   */
  DRAINING: 2,
  /**
   * The peer sent GOAWAY and this side has not sent its final one. Server
   * (only while DRAINING): the agent's replacement is up, streams still open
   * here. Agent: the server asked it to move; its own GOAWAY follows.
   */
  PEER_LEAVING: 3,
  /** This side sent its final GOAWAY: no new streams; those in flight finish. */
  GOING_AWAY: 4,
  /** The transport is gone. */
  CLOSED: 5,
} as const
export type SessionState = (typeof SessionState)[keyof typeof SessionState]

/** Reset code a stream sees when its connection goes away (local only, never sent). */
export const CONNECTION_LOST = 0xffff_0001

/**
 * The multiplexer: many streams over one message transport, with per-stream
 * flow control and transport backpressure (watching `bufferedAmount`).
 * Pure: no sockets and no timers, so every state is reachable from a test.
 */
export class Session implements StreamOwner, StreamConnection {
  readonly role: SessionRole
  /** Frames for streams we do not know (finished, or never ours), dropped and counted. */
  droppedFrames = 0
  /** Streams that have received more than INITIAL_WINDOW bytes: bulk transfers, which new small streams avoid. */
  heavyStreams = 0
  /** Streams reset because their peer broke the stream state machine or flow control. */
  streamErrors = 0
  private sessionState: SessionState = SessionState.OPEN

  private readonly transport: Transport
  private readonly options: SessionOptions
  private readonly streams = new Map<number, Stream>()
  private readonly blocked = new Set<Stream>()
  private readonly highWaterMark: number
  private readonly streamWindow: number
  private readonly windowGrowthBudget: number
  /** Receive window the open streams grew by (≤ windowGrowthBudget). */
  private windowGrowth = 0
  private readonly lowWaterMark: number
  private readonly maxHeldFrames: number
  /** DATA frames held undrained across all streams (see SessionOptions.maxHeldFrames). */
  heldFrames = 0
  private readonly now: (() => number) | undefined
  private readonly smallFrameBytes: number
  private readonly smallFrameRate: number
  private readonly smallFrameBurst: number
  private smallFrameTokens: number
  private smallFrameRefilledAt = 0
  private nextStreamId = 1
  private lastRemoteStreamId = 0
  private isCongested = false
  private endFlag: boolean
  private trailers: boolean
  private windowBlocked: boolean
  private readonly onSent = (): void => this.checkDrained()

  constructor(transport: Transport, options: SessionOptions) {
    this.transport = transport
    this.options = options
    this.role = options.role
    this.streamWindow = options.streamWindow ?? INITIAL_WINDOW
    this.windowGrowthBudget = options.windowGrowthBudget ?? 0
    this.highWaterMark = options.highWaterMark ?? sessionDefaults.highWaterMark
    this.lowWaterMark = options.lowWaterMark ?? sessionDefaults.lowWaterMark
    this.maxHeldFrames = options.maxHeldFrames ?? sessionDefaults.maxHeldFrames
    this.now = options.now
    this.smallFrameBytes = options.smallFrameBytes ?? sessionDefaults.smallFrameBytes
    this.smallFrameRate = options.smallFrameRate ?? sessionDefaults.smallFrameRate
    this.smallFrameBurst = options.smallFrameBurst ?? sessionDefaults.smallFrameBurst
    this.smallFrameTokens = this.smallFrameBurst
    if (this.now !== undefined) this.smallFrameRefilledAt = this.now()
    this.endFlag = options.endFlag === true
    this.trailers = options.trailers === true
    this.windowBlocked = options.windowBlocked === true
  }

  /** The peer turned out to speak `end-flag` (the agent learns it from the server's 101, after the session exists). */
  enableEndFlag(): void {
    this.endFlag = true
  }

  get foldEnd(): boolean {
    return this.endFlag
  }

  /** The peer turned out to speak `trailers` (learnt from the server's 101, as enableEndFlag). */
  enableTrailers(): void {
    this.trailers = true
  }

  get carriesTrailers(): boolean {
    return this.trailers
  }

  /** The peer turned out to speak `window-blocked` (learnt from the server's 101, as enableEndFlag). */
  enableWindowBlocked(): void {
    this.windowBlocked = true
  }

  get signalsBlocked(): boolean {
    return this.windowBlocked
  }

  get activeStreams(): number {
    return this.streams.size
  }

  get state(): SessionState {
    return this.sessionState
  }

  get closed(): boolean {
    return this.sessionState === SessionState.CLOSED
  }

  /** No new streams on this connection: this side sent its final GOAWAY (or is closed); on the agent, also once the server sent one. */
  get goingAway(): boolean {
    const state = this.sessionState
    return state >= SessionState.GOING_AWAY || (state === SessionState.PEER_LEAVING && this.role === 'agent')
  }

  /** Server: the agent was asked to move (advisory GOAWAY, or draining) and streams still open here. */
  get moveRequested(): boolean {
    const state = this.sessionState
    return this.role === 'server' && state >= SessionState.MOVE_REQUESTED && state <= SessionState.PEER_LEAVING
  }

  /** The peer sent GOAWAY and this side has not answered with its final one yet (server: while draining). */
  get peerGoingAway(): boolean {
    return this.sessionState === SessionState.PEER_LEAVING
  }

  get congested(): boolean {
    return this.isCongested
  }

  /**
   * Server side: opens a stream with a request head. Returns null once going
   * away or closed. `route` rides with the OPEN to the transport (see
   * Transport.send): a relay names the tunnel its far end must serve.
   */
  openStream(head: RequestHead, handler: StreamHandler, route?: Buffer): Stream | null {
    if (this.role !== 'server' || this.goingAway || this.closed || this.nextStreamId > MAX_STREAM_ID) return null
    const id = this.nextStreamId++
    const stream = new Stream(id, this, handler, this.streamWindow, true)
    this.streams.set(id, stream)
    // A bodiless request's END rides on its OPEN: one frame, one write, one wake-up of the agent.
    // Never an upgrade's: after the 101 its request side carries the public client's byte stream.
    const end = this.endFlag && head.bodyless === true && head.upgrade !== true
    this.send(encodeOpen(id, head, end), route)
    if (end) stream.endedByOpen()
    return stream
  }

  /**
   * Either side: no new streams on this connection. From the server it
   * means "move to a fresh connection"; from the agent it means "I am
   * leaving, open nothing more here", and the server answers with its own
   * GOAWAY naming the last stream it opened, so the agent knows when every
   * stream it must serve has arrived. Streams in flight go on.
   *
   * `advisory` (server only) is the first of HTTP/2's two-step shutdown:
   * GOAWAY with last stream id 2^32-1 asks the agent to move while the
   * server keeps opening streams here until the agent's own GOAWAY says its
   * replacement is up; nothing is refused in between.
   */
  goAway(code: number, advisory = false): void {
    const state = this.sessionState
    if (state >= SessionState.GOING_AWAY) return
    if (advisory && this.role === 'server') {
      if (state !== SessionState.OPEN) return
      this.sessionState = SessionState.MOVE_REQUESTED
      this.send(encodeGoAway(MAX_STREAM_ID, code))
      return
    }
    this.sessionState = SessionState.GOING_AWAY
    this.send(encodeGoAway(this.role === 'server' ? this.nextStreamId - 1 : this.lastRemoteStreamId, code))
  }

  /**
   * Server side: drain this connection. The agent is asked to move (an
   * advisory GOAWAY, unless one was sent already), and its GOAWAY is not
   * answered at once: the connection keeps taking streams until the owner
   * calls goAway(), so requests still arriving on this instance's keep-alive
   * sockets are served here.
   */
  drain(code: number): void {
    const state = this.sessionState
    if (this.role !== 'server' || (state !== SessionState.OPEN && state !== SessionState.MOVE_REQUESTED)) return
    this.sessionState = SessionState.DRAINING
    if (state === SessionState.OPEN) this.send(encodeGoAway(MAX_STREAM_ID, code))
  }

  /**
   * Feeds one received message. Connection-fatal errors go to
   * `onProtocolError`. `route`: what the transport carried beside an OPEN (a
   * relay envelope's tunnel id), handed to `onStream`.
   */
  receive(message: Buffer, route?: string): void {
    if (this.closed) return
    try {
      this.dispatch(message, route)
    } catch (error) {
      if (error instanceof ProtocolError) {
        this.options.onProtocolError?.(error)
      } else {
        throw error
      }
    }
  }

  /** The transport is gone: every open stream is reset locally. */
  close(reason = 'connection closed'): void {
    if (this.closed) return
    this.sessionState = SessionState.CLOSED
    const open = [...this.streams.values()]
    this.streams.clear()
    this.blocked.clear()
    this.heavyStreams = 0
    this.heldFrames = 0
    this.windowGrowth = 0
    for (const stream of open) {
      stream.close()
      stream.handler.onReset(CONNECTION_LOST, reason)
    }
  }

  // StreamOwner

  send(frame: Buffer, route?: Buffer): void {
    if (this.closed) return
    this.transport.send(frame, this.drainCheckFor(frame.length), route)
  }

  sendData(streamId: number, payload: Buffer, end: boolean, blocked: boolean): void {
    if (this.closed) return
    if (this.transport.sendData === undefined) return this.send(encodeData(streamId, payload, end, blocked))
    this.transport.sendData(streamId, payload, end, blocked, this.drainCheckFor(payload.length))
  }

  /**
   * What a send of `bytes` carries: once the transport holds more than the
   * high-water mark, every frame carries the (shared, preallocated) callback
   * that checks for drain; below it, none.
   */
  private drainCheckFor(bytes: number): (() => void) | undefined {
    if (!this.isCongested && this.transport.bufferedAmount + bytes <= this.highWaterMark) return undefined
    this.isCongested = true
    return this.onSent
  }

  block(stream: Stream): void {
    this.blocked.add(stream)
  }

  framesDrained(count: number): void {
    this.heldFrames -= count
  }

  growWindow(bytes: number): number {
    const granted = Math.max(0, Math.min(bytes, this.windowGrowthBudget - this.windowGrowth))
    this.windowGrowth += granted
    return granted
  }

  release(stream: Stream, heldFrames: number): void {
    this.blocked.delete(stream)
    // After close() the maps are already empty and the counters zero.
    if (!this.streams.delete(stream.id)) return
    this.heldFrames -= heldFrames
    this.windowGrowth -= stream.grownWindow
    if (stream.heavy) this.heavyStreams--
  }

  private checkDrained(): void {
    if (!this.isCongested || this.transport.bufferedAmount > this.lowWaterMark) return
    this.isCongested = false
    if (this.blocked.size === 0) return
    const waiting = [...this.blocked]
    this.blocked.clear()
    for (const stream of waiting) {
      if (this.isCongested) {
        this.blocked.add(stream)
      } else if (stream.sendWindow > 0) {
        stream.flush()
      } else {
        this.blocked.add(stream)
      }
    }
  }

  private dispatch(message: Buffer, route: string | undefined): void {
    const frame = decodeFrame(message)
    const { type, streamId, payload, end } = frame

    if (type === FrameType.GOAWAY) {
      if (streamId !== 0) throw new ProtocolError(ProtocolErrorCode.STREAM_ID, 'GOAWAY belongs to stream 0')
      const { lastStreamId, code } = decodeGoAway(payload)
      // The server acknowledges an agent's GOAWAY with its own (last stream id).
      const state = this.sessionState
      if (state === SessionState.DRAINING || (state === SessionState.OPEN && this.role === 'agent')) {
        this.sessionState = SessionState.PEER_LEAVING
      } else if (this.role === 'server' && state !== SessionState.PEER_LEAVING) {
        this.goAway(code)
      }
      this.options.onGoAway?.(code, lastStreamId)
      return
    }

    if (type === FrameType.OPEN) {
      if (this.role !== 'agent') throw new ProtocolError(ProtocolErrorCode.STREAM_STATE, 'OPEN is sent by the server only')
      if (streamId <= this.lastRemoteStreamId) {
        throw new ProtocolError(ProtocolErrorCode.STREAM_ID, `OPEN reuses stream id ${streamId}`)
      }
      this.lastRemoteStreamId = streamId
      const head = decodeOpen(payload)
      const stream = new Stream(streamId, this, noopHandler, this.streamWindow)
      this.streams.set(streamId, stream)
      stream.handler = this.options.onStream ? this.options.onStream(stream, head, route) : refuse(stream)
      if (end && !stream.closed) {
        const refused = stream.receiveEnd()
        if (refused !== null) this.streamError(stream, refused)
      }
      return
    }

    const stream = this.streams.get(streamId)
    if (stream === undefined) {
      // A finished stream's late frames, or a stream that was never this
      // peer's: either way nothing to deliver. Still validate the payload
      // shape so garbage is caught even here.
      if (type === FrameType.WINDOW) decodeU32(payload, 'WINDOW')
      this.droppedFrames++
      return
    }

    // The stream checks each frame against its own state; what it refuses is a stream error.
    let refused: string | null = null
    switch (type) {
      case FrameType.HEAD:
        if (this.role !== 'server') return this.streamError(stream, 'unexpected HEAD')
        refused = stream.receiveHead(payload, end)
        break
      case FrameType.DATA: {
        refused = stream.acceptData(payload.length)
        if (refused !== null) break
        if (this.now !== undefined && payload.length < this.smallFrameBytes) this.spendSmallFrame(this.now)
        if (++this.heldFrames > this.maxHeldFrames) {
          throw new ProtocolError(
            ProtocolErrorCode.FLOW_CONTROL,
            `more than ${this.maxHeldFrames} DATA frames held undrained on this connection: send fewer, larger frames`,
          )
        }
        if (stream.markHeavy()) this.heavyStreams++
        refused = stream.deliverData(payload, end, frame.blocked)
        break
      }
      case FrameType.END:
        refused = stream.receiveEnd()
        break
      case FrameType.TRAILERS:
        refused = stream.receiveTrailers(payload)
        break
      case FrameType.RESET:
        stream.receiveReset(payload)
        return
      case FrameType.WINDOW:
        refused = stream.receiveWindow(decodeU32(payload, 'WINDOW'))
        break
    }
    if (refused !== null) this.streamError(stream, refused)
  }

  /** One small DATA frame from the budget; a flood of them closes the connection (not other tunnels' latency). */
  private spendSmallFrame(now: () => number): void {
    if (this.smallFrameTokens < 1) {
      const t = now()
      this.smallFrameTokens = Math.min(this.smallFrameBurst, this.smallFrameTokens + ((t - this.smallFrameRefilledAt) * this.smallFrameRate) / 1000)
      this.smallFrameRefilledAt = t
      if (this.smallFrameTokens < 1) {
        throw new ProtocolError(
          ProtocolErrorCode.FLOW_CONTROL,
          `more than ${this.smallFrameBurst} DATA frames under ${this.smallFrameBytes} bytes at over ${this.smallFrameRate}/s on this connection: send fewer, larger frames`,
        )
      }
    }
    this.smallFrameTokens--
  }

  private streamError(stream: Stream, reason: string): void {
    this.streamErrors++
    stream.reset(ResetCode.PROTOCOL_ERROR, reason)
    stream.handler.onReset(ResetCode.PROTOCOL_ERROR, reason)
  }
}

const noopHandler: StreamHandler = {
  onData() {},
  onEnd() {},
  onReset() {},
  onDrain() {},
}

function refuse(stream: Stream): StreamHandler {
  stream.reset(ResetCode.REFUSED, 'this peer takes no streams')
  return noopHandler
}
