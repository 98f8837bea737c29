import { createRequire } from 'node:module'
import type { ClientHttp2Session, ClientHttp2Stream, IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2'
import type { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import { Dispatcher as DispatcherBase } from '../http/undici-parts.js'
import type { TrailerFields } from '../protocol/index.js'
import { trailerObject } from '../http/trailer-fields.js'

/** node:http2 (~15 ms to load on Node 24), loaded when an HTTP/2 session is first opened, not by every agent start. */
let http2Module: typeof import('node:http2') | undefined
const http2 = (): typeof import('node:http2') => (http2Module ??= createRequire(import.meta.url)('node:http2') as typeof import('node:http2'))

/**
 * What a handler may add to undici's classic one: the request's trailer
 * fields, asked for once its body has ended (HTTP/2 sends them as a trailing
 * HEADERS frame; undici's HTTP/1.1 client has no way to send them).
 */
export interface RequestTrailerSource {
  requestTrailers?(): TrailerFields | null
}

/** Request headers HTTP/2 forbids (RFC 9113 §8.2.2); `te` is allowed only as `trailers`. */
const connectionSpecific = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host', 'http2-settings'])

/** Per-stream and connection receive windows: node's 64 KiB default halves a loopback stream's throughput. */
const STREAM_WINDOW = 1024 * 1024
const CONNECTION_WINDOW = 16 * 1024 * 1024

export interface H2OriginOptions {
  /** `h2c://host:port`: HTTP/2 with prior knowledge over plain TCP; `https://host:port`: HTTP/2 over TLS (ALPN h2). */
  url: URL
  /** https only: refuse a certificate that does not verify (false: `--local-insecure`). */
  rejectUnauthorized?: boolean
}

/**
 * A local service that speaks HTTP/2 (`--local h2c://…`, gRPC servers): one
 * node:http2 session, opened on first use and again after it closes or goes
 * away, with every request a stream on it. It is an undici Dispatcher, so
 * the forwarder (and the inspector's replay, through `request()`) drive it
 * with the same classic handler as an undici Pool: `onHeaders`, `onData`
 * (false pauses the stream, so the service's HTTP/2 window shuts), and
 * `onComplete` with the response trailers. A cancelled exchange resets the
 * local stream (RST_STREAM CANCEL), which is how gRPC servers see a
 * cancelled call.
 */
export class H2Origin extends DispatcherBase {
  private readonly authority: string
  private readonly host: string
  private readonly tls: boolean
  private readonly rejectUnauthorized: boolean
  private session: ClientHttp2Session | null = null
  private closing = false

  constructor(options: H2OriginOptions) {
    super()
    this.tls = options.url.protocol === 'https:'
    this.authority = `${this.tls ? 'https' : 'http'}://${options.url.host}`
    this.host = options.url.host
    this.rejectUnauthorized = options.rejectUnauthorized ?? true
  }

  private openSession(): ClientHttp2Session {
    const current = this.session
    if (current !== null && !current.closed && !current.destroyed) return current
    const settings = { enablePush: false, initialWindowSize: STREAM_WINDOW }
    const session = this.tls
      ? http2().connect(this.authority, { settings, rejectUnauthorized: this.rejectUnauthorized, ALPNProtocols: ['h2'] })
      : http2().connect(this.authority, { settings })
    session.on('error', () => {}) // each stream reports its own failure
    session.once('connect', () => session.setLocalWindowSize(CONNECTION_WINDOW))
    const forget = (): void => {
      if (this.session === session) this.session = null
    }
    // After GOAWAY the session takes no new streams: the next request opens a fresh one.
    session.once('goaway', forget)
    session.once('close', forget)
    this.session = session
    return session
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const h = handler as Dispatcher.DispatchHandler & RequestTrailerSource
    if (this.closing) {
      h.onError?.(Object.assign(new Error('the local HTTP/2 origin is closed'), { code: 'UND_ERR_CLOSED' }))
      return false
    }
    if (options.upgrade) {
      h.onError?.(Object.assign(new Error('protocol upgrades (WebSocket) are not forwarded to an h2c:// service'), { code: 'ERR_H2C_UPGRADE' }))
      return false
    }
    const body = options.body as Readable | Buffer | string | null | undefined
    const bodyless = body === null || body === undefined || ((typeof body === 'string' || Buffer.isBuffer(body)) && body.length === 0)
    let stream: ClientHttp2Stream
    try {
      stream = this.openSession().request(requestHeaders(options, this.host, this.tls ? 'https' : 'http'), { endStream: bodyless, waitForTrailers: !bodyless })
    } catch (error) {
      h.onError?.(error as Error)
      return false
    }
    new H2Exchange(stream, h, options.headersTimeout ?? 0, options.bodyTimeout ?? 0)
    if (!bodyless) {
      stream.once('wantTrailers', () => {
        const trailers = h.requestTrailers?.() ?? null
        // No fields: node sends an empty DATA frame with END_STREAM instead of an empty HEADERS.
        stream.sendTrailers(trailers === null ? {} : trailerObject(trailers))
      })
      if (typeof body === 'string' || Buffer.isBuffer(body)) stream.end(body)
      else body!.pipe(stream)
    }
    return true
  }

  override close(): Promise<void> {
    this.closing = true
    const session = this.session
    this.session = null
    if (session === null || session.closed) return Promise.resolve()
    return new Promise((resolve) => session.close(() => resolve()))
  }

  override destroy(): Promise<void> {
    this.closing = true
    this.session?.destroy()
    this.session = null
    return Promise.resolve()
  }
}

/**
 * One request stream: node:http2's events → the handler. One object per
 * request; its listeners are bound once, never per chunk.
 */
class H2Exchange {
  private trailers: string[] | null = null
  private answered = false
  private done = false
  /** The request's `headersTimeout` (a route's responseTimeout, a replay's timeout), as undici's Pool honours it. */
  private headTimer: NodeJS.Timeout | undefined
  /** The request's `bodyTimeout`: the longest silence of the body once the head came, refreshed per chunk (one timer). */
  private bodyTimer: NodeJS.Timeout | undefined
  /** The handler held the stream (onData answered false): that wait is not the service's silence. */
  private paused = false

  constructor(
    private readonly stream: ClientHttp2Stream,
    private readonly handler: Dispatcher.DispatchHandler,
    headersTimeoutMs: number,
    private readonly bodyTimeoutMs: number,
  ) {
    if (headersTimeoutMs > 0) this.headTimer = setTimeout(this.onHeadersTimeout, headersTimeoutMs)
    handler.onConnect?.(this.abort)
    stream.on('response', this.onResponse)
    stream.on('data', this.onData)
    stream.on('trailers', this.onTrailers)
    stream.on('end', this.onEnd)
    stream.on('error', this.onError)
    stream.on('close', this.onClose)
  }

  private readonly onHeadersTimeout = (): void => {
    this.headTimer = undefined
    if (this.done || this.answered) return
    this.fail(Object.assign(new Error('the local service sent no response head in time'), { code: 'UND_ERR_HEADERS_TIMEOUT' }))
    if (!this.stream.destroyed) this.stream.close(http2().constants.NGHTTP2_CANCEL)
  }

  private readonly onBodyTimeout = (): void => {
    if (this.done || this.paused) return // paused: resume() re-arms it
    this.fail(Object.assign(new Error('the local service sent no body data in time'), { code: 'UND_ERR_BODY_TIMEOUT' }))
    if (!this.stream.destroyed) this.stream.close(http2().constants.NGHTTP2_CANCEL)
  }

  /** undici's contract: an aborted request still ends with onError(reason) (its request() settles on it). */
  private readonly abort = (reason?: Error): void => {
    if (!this.stream.destroyed) this.stream.close(http2().constants.NGHTTP2_CANCEL)
    this.fail(reason ?? Object.assign(new Error('request aborted'), { code: 'UND_ERR_ABORTED' }))
  }

  private readonly resume = (): void => {
    this.paused = false
    // refresh() also re-arms a timer that fired while paused.
    if (!this.done) this.bodyTimer?.refresh()
    this.stream.resume()
  }

  private readonly onResponse = (headers: IncomingHttpHeaders): void => {
    if (this.done) return
    this.answered = true
    clearTimeout(this.headTimer)
    if (this.bodyTimeoutMs > 0) this.bodyTimer = setTimeout(this.onBodyTimeout, this.bodyTimeoutMs)
    const status = Number(headers[':status'])
    this.handler.onHeaders?.(status, flatten(headers) as unknown as Buffer[], this.resume, '')
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.done) return
    this.bodyTimer?.refresh()
    if (this.handler.onData?.(chunk) === false) {
      this.paused = true
      this.stream.pause()
    }
  }

  private readonly onTrailers = (headers: IncomingHttpHeaders): void => {
    this.trailers = flatten(headers)
  }

  private readonly onEnd = (): void => {
    if (this.done) return
    if (!this.answered) return this.fail(Object.assign(new Error('the local service ended the stream without a response'), { code: 'ERR_HTTP2_NO_RESPONSE' }))
    this.done = true
    clearTimeout(this.bodyTimer)
    // undici hands an empty list, never null, to handlers that parse it (its request() does).
    this.handler.onComplete?.(this.trailers ?? [])
  }

  private readonly onError = (error: Error & { cause?: unknown }): void => {
    // A session that never connected cancels its streams; the cause says why (ECONNREFUSED → LOCAL_UNREACHABLE).
    const cause = error.cause as (Error & { code?: unknown }) | undefined
    this.fail(cause instanceof Error && typeof cause.code === 'string' ? cause : error)
  }

  private readonly onClose = (): void => {
    if (this.done) return
    const code = this.stream.rstCode
    this.fail(Object.assign(new Error(`the local service reset the stream (HTTP/2 error code ${code ?? 'none'})`), { code: 'ERR_HTTP2_STREAM_ERROR' }))
  }

  private fail(error: Error): void {
    if (this.done) return
    this.done = true
    clearTimeout(this.headTimer)
    clearTimeout(this.bodyTimer)
    this.handler.onError?.(error)
  }
}

/** undici's request headers (a flat list, or an object) → node:http2's, with the pseudo-headers; `:authority` from Host, else the origin's. */
function requestHeaders(options: Dispatcher.DispatchOptions, host: string, scheme: string): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { ':method': options.method, ':path': options.path, ':scheme': scheme }
  let authority: string | undefined
  const add = (name: string, value: string): void => {
    const lower = name.toLowerCase()
    if (lower === 'host') authority ??= value
    if (connectionSpecific.has(lower) || lower.startsWith(':')) return
    if (lower === 'te' && value.trim().toLowerCase() !== 'trailers') return
    const seen = out[lower]
    out[lower] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [String(seen), value]
  }
  const headers = options.headers
  if (Array.isArray(headers)) {
    for (let i = 0; i + 1 < headers.length; i += 2) add(String(headers[i]), String(headers[i + 1]))
  } else if (headers !== null && headers !== undefined) {
    for (const [name, value] of Object.entries(headers as Record<string, string | string[] | undefined>)) {
      if (value === undefined) continue
      for (const v of Array.isArray(value) ? value : [value]) add(name, v)
    }
  }
  out[':authority'] = authority ?? host
  return out
}

/** node:http2's headers object → a flat `[name, value, …]` list without pseudo-headers (what undici hands a handler). */
function flatten(headers: IncomingHttpHeaders): string[] {
  const out: string[] = []
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith(':') || value === undefined) continue
    if (Array.isArray(value)) for (const v of value) out.push(name, v)
    else out.push(name, String(value))
  }
  return out
}
