import type { IncomingMessage, ServerResponse } from 'node:http'
import { Http2ServerResponse } from 'node:http2'
import {
  CONNECTION_LOST,
  Feature,
  FEATURES_HEADER,
  parseFeatures,
  Pipe,
  ResetCode,
  type OpenedStream,
  type RequestHead,
  type ResponseHead,
  type StreamHandler,
  type TrailerFields,
} from '../protocol/index.js'
import { ErrorCode, type PublicErrorCode } from '../errors.js'
import { rawFromPairs } from '../http/hop-by-hop.js'
import { trailerFields, trailerObject, trailerPairs } from '../http/trailer-fields.js'
import { responseHeadersFor } from './forwarded-headers.js'
import { sendPublicError } from './public-errors.js'
import { abortResponse, frameResponseHead, isFramingError } from './response-framing.js'
import { channels } from '../observability/channels.js'
import { newExchangeSummary, type ExchangeSummary } from '../exchange/summary.js'

const resetToError: Record<number, PublicErrorCode> = {
  [ResetCode.LOCAL_UNREACHABLE]: ErrorCode.LOCAL_UNREACHABLE,
  [ResetCode.TIMEOUT]: ErrorCode.AGENT_TIMEOUT,
  [ResetCode.TOO_LARGE]: ErrorCode.BODY_TOO_LARGE,
  [CONNECTION_LOST]: ErrorCode.AGENT_NOT_CONNECTED,
}

/** Methods a proxy may send again when it cannot know whether the first try arrived (RFC 9110 §9.2.2). */
const idempotent = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE'])
const MAX_RETRIES = 5
/** Interim (1xx) heads taken before the final one; more is a flood, answered 502. */
const MAX_INTERIM_HEADS = 8

/**
 * One public request streamed through a tunnel: public request body → DATA
 * frames (paused while the agent's window is shut), response HEAD/DATA →
 * public response (credit returned only once the public socket took the
 * bytes). One object per request; no closures per chunk.
 *
 * A stream that ends before any of the request was sent — the agent refused
 * it, or (for idempotent requests) its connection died — is handed back to
 * `redispatch`, which finds another connection or holds for a reconnecting
 * agent: a connection swap never loses such a request.
 */
export class ProxyExchange implements StreamHandler {
  stream: OpenedStream | null = null
  readonly head: RequestHead
  readonly summary: ExchangeSummary
  finished = false
  private readonly req: IncomingMessage
  private readonly res: ServerResponse
  private readonly prefix: string
  private readonly responseTimeoutMs: number
  private readonly started = process.hrtime.bigint()
  private readonly onDone: (summary: ExchangeSummary) => void
  private readonly redispatch: (exchange: ProxyExchange) => void
  private readonly origin: object | undefined
  private timer: NodeJS.Timeout | undefined
  /**
   * Response body → `res`, credit back once `res` took the bytes: DATA frames
   * that arrive together (one socket read, or while the public client is not
   * reading) become one write, and tiny frames cost bytes, not a buffer and a write each.
   */
  private readonly response: Pipe
  private headSent = false
  private listening = false
  private requestEnded = false
  private bytesSentOnStream = 0
  /** Response body bytes the public client was promised (content-length), or null when it runs to its end. */
  private bodyLength: number | null = null
  private bodyBytes = 0
  private interimHeads = 0
  /** The service's response trailers (TRAILERS), written after the body. */
  private responseTrailers: TrailerFields | null = null
  /** Set while a relayed stream's body waits for the endpoint's interim 100 (see attach): the wait's deadline. */
  private continueTimer: NodeJS.Timeout | undefined

  constructor(
    req: IncomingMessage,
    res: ServerResponse,
    info: { requestId: string; tunnelId: string; path: string; prefix: string; head: RequestHead; responseTimeoutMs: number; origin?: object },
    callbacks: { onDone: (summary: ExchangeSummary) => void; redispatch: (exchange: ProxyExchange) => void },
  ) {
    this.req = req
    this.res = res
    this.prefix = info.prefix
    this.head = info.head
    this.responseTimeoutMs = info.responseTimeoutMs
    this.onDone = callbacks.onDone
    this.redispatch = callbacks.redispatch
    this.origin = info.origin
    this.summary = newExchangeSummary(info, req.method ?? 'GET')
    this.response = new Pipe({ destination: res, schedule: queueMicrotask })
    res.on('drain', this.onResponseDrain)
    res.on('close', this.onResponseClose)
  }

  /**
   * Starts (or, after a retry, resumes) streaming the public request into
   * `stream`. With `continueTimeoutMs` (a relayed stream) a body not yet
   * started waits for the other instance's interim 100, at most that long:
   * refused before it, the request is retried with its body untouched.
   */
  attach(stream: OpenedStream, continueTimeoutMs?: number): void {
    this.stream = stream
    this.response.source = stream
    this.bytesSentOnStream = 0
    this.timer ??= setTimeout(this.onTimeout, this.responseTimeoutMs)
    if (continueTimeoutMs !== undefined && !this.listening && this.head.bodyless !== true) {
      this.continueTimer = setTimeout(this.startBody, continueTimeoutMs)
      return
    }
    this.startBody()
  }

  private get awaitingContinue(): boolean {
    return this.continueTimer !== undefined
  }

  private stopWaitingForContinue(): void {
    clearTimeout(this.continueTimer)
    this.continueTimer = undefined
  }

  private readonly startBody = (): void => {
    this.stopWaitingForContinue()
    const stream = this.stream
    if (stream === null || this.finished) return
    if (!this.listening) {
      this.listening = true
      const req = this.req
      req.on('data', this.onRequestData)
      req.on('end', this.onRequestEnd)
      req.on('error', this.onRequestError)
      // A retry paused it (onReset) before the body ever started.
      req.resume()
    } else {
      this.req.resume()
    }
    if (this.requestEnded) this.endRequest(stream)
  }

  /** The request body is complete: END, or TRAILERS with the public request's trailer fields (HTTP/1.1 chunked or HTTP/2). */
  private endRequest(stream: OpenedStream): void {
    const trailers = trailerFields(this.req.rawTrailers)
    if (trailers.length > 0 && stream.endWithTrailers !== undefined) stream.endWithTrailers(trailers)
    else stream.end()
  }

  /** Fails before a stream exists (no agent, bad request …). */
  fail(code: PublicErrorCode, detail?: string, headers?: Record<string, string>): void {
    if (this.finished) return
    this.summary.error = code
    sendPublicError(this.res, code, this.summary.requestId, detail, headers)
    this.summary.status = this.res.statusCode
    this.finish()
  }

  // Public request → agent

  private readonly onRequestData = (chunk: Buffer): void => {
    this.summary.requestBytes += chunk.length
    this.bytesSentOnStream += chunk.length
    if (this.stream !== null && !this.stream.write(chunk)) {
      this.req.pause()
      // Waiting for the agent's credit (or its socket): observable as `adit:server:stall`.
      if (channels.serverStall.hasSubscribers)
        channels.serverStall.publish({ origin: this.origin, tunnelId: this.summary.tunnelId, requestId: this.summary.requestId })
    }
  }

  private readonly onRequestEnd = (): void => {
    this.requestEnded = true
    if (this.stream !== null) this.endRequest(this.stream)
  }

  private readonly onRequestError = (): void => {
    this.cancel('client request error')
  }

  // Agent → public response (StreamHandler)

  onHead(head: ResponseHead): void {
    if (this.finished) return
    if (head.status < 200) return this.onInterimHead(head)
    if (this.awaitingContinue) this.startBody()
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    // The server owns the public framing: a bad status or length never reaches the client.
    const framed = frameResponseHead(head.status, head.headers, this.summary.method)
    if (isFramingError(framed)) return this.badResponse(framed.detail)
    this.bodyLength = framed.bodyLength
    const headers = responseHeadersFor(framed.headers, this.prefix, false)
    headers.push(['X-Adit-Request-Id', this.summary.requestId])
    this.summary.status = head.status
    if (head.route !== undefined) this.summary.route = head.route
    if (head.answeredBy !== undefined) this.summary.answeredBy = head.answeredBy
    if (this.res instanceof Http2ServerResponse) {
      // HTTP/2: the head waits for the frames that came with it (one read), so an answer with no body
      // leaves as one HEADERS frame with END_STREAM — gRPC's trailers-only form, the only place
      // @grpc/grpc-js looks for a status that is not in trailers. writeHead would send HEADERS at once.
      this.pendingHead = { status: head.status, headers }
      queueMicrotask(this.writePendingHead)
      return
    }
    this.writeHead(head.status, head.statusText, headers)
  }

  /** An HTTP/2 head held by onHead; written before any body, trailers or end. */
  private pendingHead: { status: number; headers: Array<[string, string]> } | null = null
  private readonly writePendingHead = (): void => {
    const pending = this.pendingHead
    if (pending === null || this.finished) return
    this.pendingHead = null
    this.writeHead(pending.status, undefined, pending.headers)
  }

  private writeHead(status: number, statusText: string | undefined, headers: Array<[string, string]>): void {
    try {
      this.res.writeHead(status, statusText, rawFromPairs(headers) as unknown as Record<string, string>)
      this.headSent = true
    } catch (error) {
      // An invalid header from the service: answer 502 rather than crash.
      this.stream?.reset(ResetCode.PROTOCOL_ERROR, 'invalid response head')
      this.summary.error = 'invalid response head'
      if (!this.res.headersSent)
        sendPublicError(this.res, ErrorCode.STREAM_RESET, this.summary.requestId, `invalid response head from the service: ${(error as Error).message}`)
      this.finish()
    }
  }

  /** 1xx before the final head: 103 goes out as early hints, 100/102 are dropped, 101 answers only an upgrade. */
  private onInterimHead(head: ResponseHead): void {
    if (head.status === 101) return this.badResponse('status 101 answers only an upgrade request')
    // An endpoint instance (a relay) names in its 100 that it takes this stream's request trailers.
    if (head.status === 100 && takesTrailers(head)) this.stream?.allowTrailers?.()
    if (head.status === 100 && this.awaitingContinue) return this.startBody()
    if (++this.interimHeads > MAX_INTERIM_HEADS) return this.badResponse(`more than ${MAX_INTERIM_HEADS} interim 1xx heads`)
    if (head.status !== 103 || typeof this.res.writeEarlyHints !== 'function') return
    const hints = Object.fromEntries(headersByName(responseHeadersFor(head.headers, this.prefix, false)))
    if (hints.link === undefined) return
    try {
      this.res.writeEarlyHints(hints)
    } catch {
      // An invalid hint is dropped: early hints are advisory.
    }
  }

  /** The agent's head breaks HTTP framing: the stream is reset, the client gets a one-line 502. */
  private badResponse(detail: string): void {
    this.stream?.reset(ResetCode.PROTOCOL_ERROR, detail)
    this.summary.error = `bad response: ${detail}`
    sendPublicError(this.res, ErrorCode.BAD_RESPONSE, this.summary.requestId, detail)
    this.summary.status = this.res.statusCode
    this.finish()
  }

  onData(chunk: Buffer): void {
    if (this.finished) return
    if (this.pendingHead !== null) this.writePendingHead()
    if (this.bodyLength !== null && this.bodyBytes + chunk.length > this.bodyLength) {
      // DATA past the declared length: never written, the stream reset, the public connection cut (never reused).
      this.stream?.reset(ResetCode.PROTOCOL_ERROR, `DATA past the declared content-length of ${this.bodyLength}`)
      this.summary.error = 'response body longer than its content-length'
      abortResponse(this.res)
      return this.finish()
    }
    this.bodyBytes += chunk.length
    this.summary.responseBytes += chunk.length
    this.response.push(chunk)
  }

  onTrailers(trailers: TrailerFields): void {
    if (this.pendingHead !== null) this.writePendingHead()
    if (this.finished || !this.headSent) return
    // The server owns the public wire: no framing or routing field passes as a trailer.
    const allowed = trailerPairs(trailers)
    if (allowed.length > 0) this.responseTrailers = allowed
  }

  onEnd(): void {
    if (this.finished) return
    if (this.bodyLength !== null && this.bodyBytes < this.bodyLength) {
      // A short body must not look complete (nor leave the client reading the next answer as its rest).
      this.summary.error = 'response body shorter than its content-length'
      abortResponse(this.res)
      return this.finish()
    }
    const pending = this.pendingHead
    if (pending !== null && this.bodyBytes === 0 && this.response.held === 0) {
      // Trailers-only (HTTP/2): status and headers set, then end — node sends them as HEADERS + END_STREAM.
      this.pendingHead = null
      try {
        this.res.statusCode = pending.status
        for (const [name, value] of headersByName(pending.headers)) this.res.setHeader(name, value)
        this.headSent = true
      } catch {
        // A field node refuses: the ordinary path below answers with its own error handling.
        this.pendingHead = pending
      }
    }
    if (this.pendingHead !== null) this.writePendingHead()
    if (this.finished) return
    this.response.flush()
    if (this.responseTrailers !== null) this.writeTrailers(this.responseTrailers)
    this.res.end()
    this.finish()
  }

  /**
   * Trailers go out after the body: over HTTP/2 as a trailing HEADERS frame,
   * over HTTP/1.1 in the last chunk (a response framed by content-length, or
   * to an HTTP/1.0 client, has no place for them: node drops them).
   */
  private writeTrailers(trailers: TrailerFields): void {
    try {
      this.res.addTrailers(trailerObject(trailers))
    } catch {
      // A field node refuses (an invalid character): trailers are dropped, the body still ends cleanly.
    }
  }

  onReset(code: number, reason: string): void {
    if (this.finished) return
    if (!this.headSent && this.canRetry(code)) {
      this.stream = null
      this.stopWaitingForContinue()
      this.response.source = null
      this.summary.retries++
      this.req.pause()
      this.redispatch(this)
      return
    }
    if (this.timer) clearTimeout(this.timer)
    this.summary.error = reason || `reset ${code}`
    if (!this.headSent) {
      const errorCode = resetToError[code] ?? ErrorCode.STREAM_RESET
      sendPublicError(this.res, errorCode, this.summary.requestId, reason || undefined)
      this.summary.status = this.res.statusCode
    } else {
      // Mid-body: the only honest signal is an aborted response (a reset, never a clean FIN).
      abortResponse(this.res)
    }
    this.finish()
  }

  onDrain(): void {
    this.req.resume()
  }

  /** Safe to send again: nothing of it reached the agent, or the agent refused it, or it is idempotent and bodiless. */
  private canRetry(code: number): boolean {
    if (this.summary.retries >= MAX_RETRIES || this.bytesSentOnStream > 0 || this.summary.requestBytes > 0) return false
    if (code === ResetCode.REFUSED) return true
    // The other instance never said it opened the stream, and none of the body left: sending it elsewhere cannot repeat it.
    if (code === CONNECTION_LOST && this.awaitingContinue) return true
    return code === CONNECTION_LOST && idempotent.has(this.summary.method) && this.head.bodyless === true
  }

  // Timers and public socket events

  private readonly onTimeout = (): void => {
    this.timer = undefined
    if (this.finished) return
    this.stream?.reset(ResetCode.TIMEOUT, 'no response head in time')
    this.summary.error = 'timeout'
    sendPublicError(this.res, ErrorCode.AGENT_TIMEOUT, this.summary.requestId)
    this.summary.status = this.res.statusCode
    this.finish()
  }

  private readonly onResponseDrain = (): void => {
    this.response.drained()
  }

  private readonly onResponseClose = (): void => {
    if (this.finished) return
    if (this.bodyLength !== null && this.headSent && this.bodyBytes === this.bodyLength && this.response.held === 0) {
      // Every byte of the content-length body was written and the client left before the agent's END
      // came: it read a whole answer. The stream is cancelled (nothing is left to send) but the exchange is no failure.
      this.stream?.reset(ResetCode.CANCEL, 'the client left after the whole body')
      return this.finish()
    }
    this.cancel('client went away')
  }

  private cancel(reason: string): void {
    if (this.finished) return
    this.stream?.reset(ResetCode.CANCEL, reason)
    this.summary.error = reason
    if (!this.res.headersSent) this.summary.status = 499
    this.res.destroy()
    this.finish()
  }

  private finish(): void {
    if (this.finished) return
    this.finished = true
    this.response.close()
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    this.stopWaitingForContinue()
    this.req.off('data', this.onRequestData)
    // Keep reading (and dropping) any unread request body so the connection stays usable.
    if (!this.req.complete) this.req.resume()
    this.summary.durationMs = Number(process.hrtime.bigint() - this.started) / 1e6
    this.onDone(this.summary)
  }
}

/** An interim head that names `trailers` in `Adit-Features` (the relay's 100). */
function takesTrailers(head: ResponseHead): boolean {
  for (const [name, value] of head.headers) if (name.toLowerCase() === FEATURES_HEADER && parseFeatures(value).has(Feature.TRAILERS)) return true
  return false
}

/** Header pairs grouped by lower-case name (repeats become arrays), for setHeader and early hints. */
function headersByName(pairs: Array<[string, string]>): Map<string, string | string[]> {
  const out = new Map<string, string | string[]>()
  for (const [name, value] of pairs) {
    const key = name.toLowerCase()
    const seen = out.get(key)
    out.set(key, seen === undefined ? value : ([] as string[]).concat(seen, value))
  }
  return out
}
