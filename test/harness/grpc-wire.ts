/**
 * gRPC over HTTP/2 by hand (PROTOCOL-HTTP2.md): `@grpc/grpc-js` is not a
 * dependency here, so the tests and the bench speak the wire format with
 * node:http2 directly — length-prefixed messages (1 byte compressed flag,
 * u32 BE length), `grpc-status` / `grpc-message` in trailers, `grpc-timeout`
 * for deadlines, RST_STREAM CANCEL for cancellation. A service with the four
 * call shapes, and a client call helper.
 */
import assert from 'node:assert/strict'
import {
  connect as http2Connect,
  constants,
  createSecureServer,
  createServer,
  type ClientHttp2Session,
  type Http2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2'
import type { AddressInfo } from 'node:net'

/** One gRPC message on the wire: `0x00 | u32 BE length | bytes`. */
export function grpcFrame(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length)
  out[0] = 0
  out.writeUInt32BE(message.length, 1)
  message.copy(out, 5)
  return out
}

/** Splits a byte stream into gRPC messages, whatever the chunking. */
export class MessageReader {
  private buffered: Buffer = Buffer.alloc(0)
  /** Bytes of messages read so far (payloads only). */
  bytes = 0

  push(chunk: Buffer): Buffer[] {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk])
    const out: Buffer[] = []
    while (this.buffered.length >= 5) {
      const length = this.buffered.readUInt32BE(1)
      if (this.buffered.length < 5 + length) break
      out.push(this.buffered.subarray(5, 5 + length))
      this.bytes += length
      this.buffered = this.buffered.subarray(5 + length)
    }
    return out
  }
}

export interface GrpcServiceEvents {
  /** Paths of calls the service saw cancelled (RST_STREAM from the client side), in order. */
  cancelled: string[]
  /** Request headers of every call, by arrival. */
  requests: IncomingHttpHeaders[]
  /** Request trailers a call arrived with. */
  requestTrailers: IncomingHttpHeaders[]
}

export interface GrpcService {
  url: string
  port: number
  events: GrpcServiceEvents
  close(): Promise<void>
}

const OK_TRAILERS = { 'grpc-status': '0', 'x-trailer-meta': 'kept' }

/**
 * `/test.Echo/Unary` (one message back, upper-cased), `/ServerStream`
 * (request: `count:size`, answers `count` messages of `size` bytes),
 * `/ClientStream` (answers `messages:bytes` after the client's end),
 * `/Bidi` (echoes each message as it arrives), `/Fail` (NOT_FOUND with a
 * message and binary metadata), `/Forever` (streams until cancelled),
 * `/Hang` (never answers: a deadline has to end it).
 */
export async function startGrpcService(options: { tls?: { key: Buffer; cert: Buffer } } = {}): Promise<GrpcService> {
  const events: GrpcServiceEvents = { cancelled: [], requests: [], requestTrailers: [] }
  // With a certificate: HTTP/2 over TLS only (ALPN h2), as gRPC servers with TLS are.
  const server: Http2Server = options.tls === undefined ? createServer() : (createSecureServer({ ...options.tls, allowHTTP1: false }) as unknown as Http2Server)
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    const path = String(headers[':path'])
    events.requests.push(headers)
    stream.on('error', () => {})
    stream.on('trailers', (t) => events.requestTrailers.push(t))
    stream.on('close', () => {
      if (stream.rstCode === constants.NGHTTP2_CANCEL) events.cancelled.push(path)
    })
    const reader = new MessageReader()
    const respond = (): void => {
      if (!stream.headersSent)
        stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'x-header-meta': String(headers['x-call-meta'] ?? '') }, { waitForTrailers: true })
    }
    const finish = (trailers: Record<string, string> = OK_TRAILERS): void => {
      if (stream.destroyed) return
      stream.once('wantTrailers', () => stream.sendTrailers(trailers))
      stream.end()
    }
    const received: Buffer[] = []
    stream.on('data', (chunk: Buffer) => {
      for (const message of reader.push(chunk)) {
        received.push(Buffer.from(message))
        if (path === '/test.Echo/Bidi') {
          respond()
          stream.write(grpcFrame(message))
        }
      }
    })
    stream.on('end', () => {
      switch (path) {
        case '/test.Echo/Unary': {
          respond()
          stream.write(grpcFrame(Buffer.from(Buffer.concat(received).toString().toUpperCase())))
          // Request trailers, if any came, go back as response trailers: both directions seen in one call.
          const echoed = events.requestTrailers.length > 0 && headers['x-echo-trailers'] !== undefined ? events.requestTrailers.at(-1)! : {}
          const extra: Record<string, string> = {}
          for (const [k, v] of Object.entries(echoed)) if (!k.startsWith(':')) extra[`echo-${k}`] = String(v)
          return finish({ ...OK_TRAILERS, ...extra })
        }
        case '/test.Echo/ServerStream': {
          const [count, size] = Buffer.concat(received).toString().split(':').map(Number) as [number, number]
          respond()
          const payload = grpcFrame(Buffer.alloc(size, 0x61))
          let sent = 0
          const pump = (): void => {
            while (sent < count) {
              sent++
              if (!stream.write(payload)) return void stream.once('drain', pump)
            }
            finish()
          }
          return pump()
        }
        case '/test.Echo/ClientStream':
          respond()
          stream.write(grpcFrame(Buffer.from(`${received.length}:${received.reduce((n, m) => n + m.length, 0)}`)))
          return finish()
        case '/test.Echo/Bidi':
          respond()
          return finish()
        case '/test.Echo/Fail':
          stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
          return finish({ 'grpc-status': '5', 'grpc-message': 'no%20such%20thing', 'x-detail-bin': Buffer.from([0, 1, 2, 255]).toString('base64') })
        case '/test.Echo/Hang':
        case '/test.Echo/Forever':
          return
        default:
          // What gRPC servers answer for a method they do not have: trailers-only UNIMPLEMENTED.
          stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12', 'grpc-message': 'unknown%20method' }, { endStream: true })
      }
    })
    if (path === '/test.Echo/Forever') {
      respond()
      const chunk = grpcFrame(Buffer.alloc(1024, 0x62))
      const timer = setInterval(() => {
        if (stream.destroyed) return clearInterval(timer)
        stream.write(chunk)
      }, 5)
      stream.on('close', () => clearInterval(timer))
    }
    // /test.Echo/Hang: never answers.
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `${options.tls === undefined ? 'h2c' : 'https'}://127.0.0.1:${port}`,
    port,
    events,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        // Sessions still open (a client that did not close) must not keep the test alive.
        setTimeout(resolve, 500).unref()
      }),
  }
}

export interface GrpcReply {
  headers: IncomingHttpHeaders
  messages: Buffer[]
  trailers: IncomingHttpHeaders
  /** grpc-status from the trailers, or from the head of a trailers-only answer. */
  status: number | undefined
  message: string | undefined
  /** The HTTP/2 error code the stream was reset with, if it was. */
  rstCode: number | undefined
  /** The trailers-only answer came as one HEADERS frame with END_STREAM. */
  trailersOnly: boolean
}

export interface CallOptions {
  /** Request messages; sent all at once unless `interactive`. */
  messages?: Buffer[]
  metadata?: Record<string, string>
  /** Sent as `grpc-timeout` (ms), and the client cancels the call when it passes, as gRPC clients do. */
  timeoutMs?: number
  /** Request trailers after the last message. */
  requestTrailers?: Record<string, string>
  /** Cancel (RST_STREAM CANCEL) after this many response messages. */
  cancelAfter?: number
  /** Called with each response message; may return the next request message (bidi ping-pong), or null to end. */
  onMessage?: (message: Buffer) => Buffer | null | undefined
}

/** One gRPC call over `session` (`path` is the full `:path`, tunnel prefix included). */
export function grpcCall(session: ClientHttp2Session, path: string, options: CallOptions = {}): Promise<GrpcReply> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = { ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...options.metadata }
    if (options.timeoutMs !== undefined) headers['grpc-timeout'] = `${options.timeoutMs}m`
    const stream = session.request(headers, { waitForTrailers: options.requestTrailers !== undefined })
    if (options.requestTrailers !== undefined) stream.once('wantTrailers', () => stream.sendTrailers(options.requestTrailers!))
    const reply: GrpcReply = { headers: {}, messages: [], trailers: {}, status: undefined, message: undefined, rstCode: undefined, trailersOnly: false }
    const reader = new MessageReader()
    let deadline: NodeJS.Timeout | undefined
    if (options.timeoutMs !== undefined) deadline = setTimeout(() => stream.close(constants.NGHTTP2_CANCEL), options.timeoutMs)
    stream.on('response', (h, flags) => {
      reply.headers = h
      if ((flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0) reply.trailersOnly = true
    })
    stream.on('data', (chunk: Buffer) => {
      for (const message of reader.push(chunk)) {
        reply.messages.push(Buffer.from(message))
        if (options.cancelAfter !== undefined && reply.messages.length >= options.cancelAfter) stream.close(constants.NGHTTP2_CANCEL)
        if (options.onMessage !== undefined) {
          const next = options.onMessage(message)
          if (next === null) stream.end()
          else if (next !== undefined) stream.write(grpcFrame(next))
        }
      }
    })
    stream.on('trailers', (t) => (reply.trailers = t))
    stream.on('error', () => {})
    stream.on('close', () => {
      clearTimeout(deadline)
      const source = reply.trailers['grpc-status'] !== undefined ? reply.trailers : reply.headers
      reply.status = source['grpc-status'] === undefined ? undefined : Number(source['grpc-status'])
      reply.message = source['grpc-message'] === undefined ? undefined : decodeURIComponent(String(source['grpc-message']))
      if (stream.rstCode !== constants.NGHTTP2_NO_ERROR) reply.rstCode = stream.rstCode
      resolve(reply)
    })
    const first = options.messages ?? []
    for (const m of first) stream.write(grpcFrame(m))
    if (options.onMessage === undefined) stream.end()
  })
}

/** An HTTP/2 session to a URL: prior knowledge to http://, ALPN h2 to https:// (trusting `ca`, when given). */
export function h2Session(url: string, ca?: Buffer): ClientHttp2Session {
  const session = http2Connect(url, { settings: { initialWindowSize: 1024 * 1024 }, ...(ca !== undefined ? { ca } : {}) })
  session.on('error', () => {})
  session.once('connect', () => session.setLocalWindowSize(16 * 1024 * 1024))
  return session
}

/** Waits (bounded) until `predicate` holds; the service's view of a cancellation arrives a moment after the client's. */
export async function eventually(predicate: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
