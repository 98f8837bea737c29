import type { Duplex } from 'node:stream'
import { Pipe, ResetCode, type OpenedStream, type ResponseHead, type StreamHandler } from '../protocol/index.js'
import { ErrorCode } from '../errors.js'
import { responseHeadersFor } from './forwarded-headers.js'
import { newExchangeSummary, type ExchangeSummary } from '../exchange/summary.js'
import { sendPublicErrorOnSocket } from './public-errors.js'
import { frameResponseHead, isFramingError } from './response-framing.js'
import { abortSocket } from '../http/abort-socket.js'

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
 */
export class UpgradeExchange implements StreamHandler {
  stream: OpenedStream | null = null
  finished = false
  readonly summary: ExchangeSummary
  /** The public socket; after an `accept`ed 101, the byte stream it returned. */
  private socket: Duplex
  private readonly accept: ((head: ResponseHead) => Duplex | null) | undefined
  private readonly early: Buffer
  private readonly prefix: string
  private readonly responseTimeoutMs: number
  private readonly onDone: (summary: ExchangeSummary) => void
  private readonly started = process.hrtime.bigint()
  private timer: NodeJS.Timeout | undefined
  private upgraded = false
  private headWritten = false
  /** Stream → public socket, credit back once the socket took the bytes: batched, and costing bytes not frames (see ByteQueue). */
  private readonly toClient: Pipe

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
    },
    onDone: (summary: ExchangeSummary) => void,
  ) {
    this.socket = socket
    this.accept = info.accept
    this.early = early
    this.prefix = info.prefix
    this.responseTimeoutMs = info.responseTimeoutMs
    this.onDone = onDone
    this.summary = newExchangeSummary(info, 'GET')
    this.toClient = new Pipe({ destination: socket, schedule: queueMicrotask })
    socket.on('close', this.onSocketClose)
    socket.on('error', this.onSocketClose)
  }

  attach(stream: OpenedStream): void {
    this.stream = stream
    this.toClient.source = stream
    this.timer = setTimeout(this.onTimeout, this.responseTimeoutMs)
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
    if (this.upgraded && this.accept !== undefined) return this.switchTo(this.accept(head))
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
    this.toClient.push(chunk)
  }

  onEnd(): void {
    if (this.finished) return
    this.toClient.flush()
    this.socket.end()
    if (!this.upgraded) this.finish()
    else this.maybeFinish()
  }

  onReset(code: number, reason: string): void {
    if (this.finished) return
    this.summary.error = reason || `reset ${code}`
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
    if (this.stream !== null && !this.stream.write(chunk)) this.socket.pause()
  }

  private readonly onSocketEnd = (): void => {
    this.stream?.end()
    this.maybeFinish()
  }

  private readonly onSocketDrain = (): void => {
    this.toClient.drained()
  }

  private readonly onSocketClose = (): void => {
    if (this.finished) return
    this.stream?.reset(ResetCode.CANCEL, 'client went away')
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
    this.summary.durationMs = Number(process.hrtime.bigint() - this.started) / 1e6
    this.onDone(this.summary)
  }
}
