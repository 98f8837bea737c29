import type { Duplex } from 'node:stream'
import {
  CONNECTION_LOST,
  Pipe,
  ResetCode,
  type OpenedStream,
  type RequestHead,
  type ResponseHead,
  type StreamHandler,
  type StreamOpener,
} from '../protocol/index.js'
import { ErrorCode } from '../errors.js'
import { responseHeadersFor } from './forwarded-headers.js'
import { newExchangeSummary, type ExchangeSummary } from '../exchange/summary.js'
import { sendPublicErrorOnSocket } from './public-errors.js'
import { frameResponseHead, isFramingError } from './response-framing.js'
import { abortSocket } from '../http/abort-socket.js'
import { closeFrame, FrameBoundary, WsCloseCode } from '../http/websocket-frames.js'
import { WsTcpDuplex } from '../http/ws-tcp-duplex.js'

/** Refused (or its connection lost) before the 101: sent again, on another connection or instance, at most this often. */
const MAX_RETRIES = 5
/** What the close frames of a drain say. */
const LEAVING_REASON = 'server going away'

/**
 * A public `Upgrade: websocket` request through a tunnel. Until the agent's
 * HEAD it is a request; after a 101 the public socket and the stream are
 * one raw two-way byte pipe with the same credit-based flow control as any
 * body, so close frames, pings and binary messages pass untouched both ways.
 * A non-101 answer is written as a plain response and the socket closed.
 *
 * With `accept` (a TCP visitor, tcp-visitor.ts) the 101 is the WebSocket
 * handshake `accept` completes, and the stream pipes to the Duplex it
 * returns (the TCP bytes inside that WebSocket) instead of the raw socket.
 *
 * Before the 101 nothing of the client's has been sent on, so a stream the
 * agent refused (its connection going away) or lost is handed back to
 * `redispatch` and opened elsewhere. When the server drains, `goAway` ends a
 * passed-through WebSocket session the way a WebSocket server would: a close
 * frame 1001 (going away) to the client and one to the service, each at a
 * frame boundary of its direction (frame-boundary tracking in
 * http/websocket-frames.ts), so a client reconnects cleanly instead of
 * seeing a frame cut and a `1006`.
 */
export class UpgradeExchange implements StreamHandler {
  stream: OpenedStream | null = null
  /** Where `stream` was opened (an agent connection here, or a relay to another instance). */
  opener: StreamOpener | null = null
  finished = false
  readonly summary: ExchangeSummary
  readonly head: RequestHead
  /** The public socket; after an `accept`ed 101, the byte stream it returned. */
  private socket: Duplex
  private readonly accept: ((head: ResponseHead) => Duplex | null) | undefined
  private readonly early: Buffer
  private readonly prefix: string
  private readonly responseTimeoutMs: number
  private readonly onDone: (summary: ExchangeSummary) => void
  private readonly redispatch: (exchange: UpgradeExchange) => void
  private readonly started = process.hrtime.bigint()
  private timer: NodeJS.Timeout | undefined
  private upgraded = false
  private headWritten = false
  /** Stream → public socket, credit back once the socket took the bytes: batched, and costing bytes not frames (see ByteQueue). */
  private readonly toClient: Pipe
  /** Frames from the service (agent → client) and from the client: where a close frame of ours may go. */
  private readonly fromAgent = new FrameBoundary()
  private readonly fromClient = new FrameBoundary()
  /** goAway was called: close both sides at their next frame boundary. */
  private leaving = false
  private leavingTimeoutMs = 0
  private leaveTimer: NodeJS.Timeout | undefined
  private closedToClient = false
  private closedToAgent = false
  private agentEnded = false

  constructor(
    socket: Duplex,
    early: Buffer,
    info: {
      requestId: string
      tunnelId: string
      path: string
      prefix: string
      responseTimeoutMs: number
      accept?: (head: ResponseHead) => Duplex | null
      head: RequestHead
    },
    callbacks: { onDone: (summary: ExchangeSummary) => void; redispatch: (exchange: UpgradeExchange) => void },
  ) {
    this.head = info.head
    this.socket = socket
    this.accept = info.accept
    this.early = early
    this.prefix = info.prefix
    this.responseTimeoutMs = info.responseTimeoutMs
    this.onDone = callbacks.onDone
    this.redispatch = callbacks.redispatch
    this.summary = newExchangeSummary(info, 'GET')
    this.toClient = new Pipe({ destination: socket, schedule: queueMicrotask })
    socket.on('close', this.onSocketClose)
    socket.on('error', this.onSocketClose)
  }

  attach(stream: OpenedStream): void {
    this.stream = stream
    this.toClient.source = stream
    this.timer ??= setTimeout(this.onTimeout, this.responseTimeoutMs)
  }

  /** After a 101, the public socket carries the client's WebSocket frames as they are (not a TCP visitor's bytes). */
  private get passedThrough(): boolean {
    return this.upgraded && this.accept === undefined
  }

  /**
   * The server is draining: end a passed-through WebSocket session with close
   * frames 1001, each at its direction's next frame boundary (after the 101,
   * if it is still to come). What is not closed within `timeoutMs` is cut.
   * A TCP visitor's connection cannot move: its WebSocket is closed with 1001
   * and its stream reset now, rather than cut at the drain's end.
   */
  goAway(timeoutMs: number): void {
    if (this.finished || this.leaving) return
    this.leaving = true
    this.leavingTimeoutMs = timeoutMs
    if (this.upgraded) this.leave()
  }

  private leave(): void {
    if (this.accept !== undefined) return this.leaveTcp()
    this.leaveTimer = setTimeout(this.onLeaveTimeout, this.leavingTimeoutMs)
    this.leaveTimer.unref()
    this.closeToClient()
    this.closeToAgent()
  }

  /** A TCP visitor's session: 1001 to the visitor, a reset to the agent (its service sees the connection end). */
  private leaveTcp(): void {
    this.summary.error = LEAVING_REASON
    this.stream?.reset(ResetCode.CANCEL, LEAVING_REASON)
    if (this.socket instanceof WsTcpDuplex) this.socket.goAway(LEAVING_REASON)
    else this.socket.destroy()
    this.finish()
  }

  /** Our close frame to the client, once the service's frames are between two. */
  private closeToClient(): void {
    if (this.closedToClient || !this.fromAgent.atBoundary || this.socket.writableEnded || this.socket.destroyed) return
    this.closedToClient = true
    this.toClient.flush()
    this.socket.write(closeFrame(WsCloseCode.GOING_AWAY, LEAVING_REASON, false))
    this.maybeEndSocket()
  }

  /** Our (masked) close frame to the service, then END, once the client's frames are between two. */
  private closeToAgent(): void {
    // A client that ended its side has sent all it will: its END went to the service already.
    if (this.closedToAgent || !this.fromClient.atBoundary || this.stream === null || this.socket.readableEnded) return
    this.closedToAgent = true
    this.stream.write(closeFrame(WsCloseCode.GOING_AWAY, LEAVING_REASON, true))
    this.stream.end()
  }

  /** After our close frame: the socket ends once the client answered with its own (or ended). */
  private maybeEndSocket(): void {
    if (!this.closedToClient || this.socket.writableEnded) return
    if (this.fromClient.sawClose || this.socket.readableEnded) {
      this.socket.end()
      this.maybeFinish()
    }
  }

  private readonly onLeaveTimeout = (): void => {
    this.leaveTimer = undefined
    if (this.finished) return
    this.summary.error = 'server going away: session not closed in time'
    this.stream?.reset(ResetCode.CANCEL, LEAVING_REASON)
    // A client that has our close frame loses nothing; one that does not is cut (mid-frame).
    if (this.closedToClient) this.socket.destroy()
    else abortSocket(this.socket)
    this.finish()
  }

  fail(code: Parameters<typeof sendPublicErrorOnSocket>[1], detail?: string, headers?: Record<string, string>): void {
    if (this.finished) return
    this.summary.error = code
    sendPublicErrorOnSocket(this.socket, code, this.summary.requestId, detail, headers)
    this.finish()
  }

  onHead(head: ResponseHead): void {
    if (this.finished || this.headWritten) return
    if (head.status < 200 && head.status !== 101) return
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    this.upgraded = head.status === 101
    // A refusal is written as a plain response: the same strict framing as any other (status, content-length).
    const framed = this.upgraded ? { headers: head.headers, bodyLength: null } : frameResponseHead(head.status, head.headers, 'GET')
    if (isFramingError(framed)) {
      this.stream?.reset(ResetCode.PROTOCOL_ERROR, framed.detail)
      return this.fail(ErrorCode.BAD_RESPONSE, framed.detail)
    }
    this.headWritten = true
    this.summary.status = head.status
    if (head.route !== undefined) this.summary.route = head.route
    if (head.answeredBy !== undefined) this.summary.answeredBy = head.answeredBy
    if (this.upgraded && this.accept !== undefined) {
      this.switchTo(this.accept(head))
      if (this.leaving && !this.finished) this.leave()
      return
    }
    const headers = responseHeadersFor(framed.headers, this.prefix, this.upgraded)
    headers.push(['X-Adit-Request-Id', this.summary.requestId])
    if (!this.upgraded) headers.push(['Connection', 'close'])
    let text = `HTTP/1.1 ${head.status} ${head.statusText ?? (this.upgraded ? 'Switching Protocols' : 'Response')}\r\n`
    for (const [name, value] of headers) text += `${name}: ${value}\r\n`
    this.socket.write(`${text}\r\n`)
    if (this.upgraded) {
      // Bytes the client sent right behind its request head belong to the new protocol.
      if (this.early.length > 0) this.onSocketData(this.early)
      this.socket.on('data', this.onSocketData)
      this.socket.on('end', this.onSocketEnd)
    }
    this.socket.on('drain', this.onSocketDrain)
    if (this.upgraded && this.leaving) this.leave()
  }

  /** An accepted 101: from now on the stream pipes to `client` (null: the public socket went away meanwhile). */
  private switchTo(client: Duplex | null): void {
    if (client === null) {
      this.stream?.reset(ResetCode.CANCEL, 'client went away')
      this.summary.error = 'client went away'
      return this.finish()
    }
    this.socket.off('close', this.onSocketClose)
    this.socket.off('error', this.onSocketClose)
    this.socket = client
    this.toClient.destination = client
    client.on('close', this.onSocketClose)
    client.on('error', this.onSocketClose)
    client.on('data', this.onSocketData)
    client.on('end', this.onSocketEnd)
    client.on('drain', this.onSocketDrain)
  }

  onData(chunk: Buffer): void {
    if (this.finished) return
    this.summary.responseBytes += chunk.length
    if (!this.passedThrough) return this.toClient.push(chunk)
    if (!this.leaving) {
      this.fromAgent.scan(chunk)
      return this.toClient.push(chunk)
    }
    // Leaving: up to the frame boundary, then our close frame; what follows is dropped (its credit returned, so the service is never stuck on a shut window).
    const taken = this.closedToClient ? 0 : this.fromAgent.scan(chunk, true)
    if (taken > 0) this.toClient.push(taken === chunk.length ? chunk : chunk.subarray(0, taken))
    if (taken < chunk.length) this.stream?.consumed(chunk.length - taken)
    this.closeToClient()
  }

  onEnd(): void {
    if (this.finished) return
    this.agentEnded = true
    if (this.leaving && this.upgraded) this.closeToClient()
    this.toClient.flush()
    this.socket.end()
    if (!this.upgraded) this.finish()
    else this.maybeFinish()
  }

  onReset(code: number, reason: string): void {
    if (this.finished) return
    if (!this.headWritten && (code === ResetCode.REFUSED || code === CONNECTION_LOST) && this.summary.retries < MAX_RETRIES) {
      // Nothing of the client's went anywhere before the 101: open it on another connection or instance.
      this.stream = null
      this.toClient.source = null
      this.summary.retries++
      this.redispatch(this)
      return
    }
    this.summary.error = reason || `reset ${code}`
    if (this.closedToClient) {
      // The client has our close frame: nothing it could read is cut.
      this.socket.end()
      return this.finish()
    }
    if (!this.headWritten) {
      this.fail(
        code === ResetCode.LOCAL_UNREACHABLE ? ErrorCode.LOCAL_UNREACHABLE : code === ResetCode.TIMEOUT ? ErrorCode.AGENT_TIMEOUT : ErrorCode.STREAM_RESET,
        reason || undefined,
      )
      return
    }
    // Mid-answer: a reset, so a cut close-delimited body never looks complete.
    abortSocket(this.socket, new Error(reason || 'reset by the agent'))
    this.finish()
  }

  onDrain(): void {
    this.socket.resume()
  }

  private readonly onSocketData = (chunk: Buffer): void => {
    this.summary.requestBytes += chunk.length
    if (!this.leaving) {
      if (this.accept === undefined) this.fromClient.scan(chunk)
      if (this.stream !== null && !this.stream.write(chunk)) this.socket.pause()
      return
    }
    // Leaving: the client's frame in progress goes on whole, then our close frame; the rest (its close answer) is only followed.
    const taken = this.closedToAgent ? 0 : this.fromClient.scan(chunk, true)
    if (taken > 0 && this.stream !== null && !this.stream.write(taken === chunk.length ? chunk : chunk.subarray(0, taken))) this.socket.pause()
    this.closeToAgent()
    if (taken < chunk.length) this.fromClient.scan(taken === 0 ? chunk : chunk.subarray(taken))
    this.maybeEndSocket()
  }

  private readonly onSocketEnd = (): void => {
    this.stream?.end()
    this.maybeEndSocket()
    this.maybeFinish()
  }

  private readonly onSocketDrain = (): void => {
    this.toClient.drained()
  }

  private readonly onSocketClose = (): void => {
    if (this.finished) return
    // After our close frame and END the service gets a moment to answer (finish); else the stream is dropped now.
    if (!this.closedToAgent) this.stream?.reset(ResetCode.CANCEL, 'client went away')
    this.summary.error ??= this.upgraded ? undefined : 'client went away'
    this.finish()
  }

  private readonly onTimeout = (): void => {
    this.timer = undefined
    if (this.finished) return
    this.stream?.reset(ResetCode.TIMEOUT, 'no response head in time')
    this.fail(ErrorCode.AGENT_TIMEOUT)
  }

  private maybeFinish(): void {
    if (this.socket.writableEnded && this.socket.readableEnded) this.finish()
  }

  private finish(): void {
    if (this.finished) return
    this.finished = true
    this.toClient.close()
    if (this.timer) clearTimeout(this.timer)
    if (this.leaveTimer) clearTimeout(this.leaveTimer)
    const stream = this.stream
    if (this.closedToAgent && !this.agentEnded && stream !== null) {
      // Our close frame and END are on their way: the service has a second to answer before the stream is dropped.
      setTimeout(() => stream.reset(ResetCode.CANCEL, LEAVING_REASON), 1000).unref()
    }
    this.summary.durationMs = Number(process.hrtime.bigint() - this.started) / 1e6
    this.onDone(this.summary)
  }
}
