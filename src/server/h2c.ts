import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Server as HttpsServer } from 'node:https'
import {
  constants as h2constants,
  createServer as createHttp2Server,
  type Http2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type Http2Session,
} from 'node:http2'
import type { Socket } from 'node:net'
import type { TLSSocket } from 'node:tls'

/** The HTTP/2 connection preface (RFC 9113 §3.4) a prior-knowledge client opens with. */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')

export interface H2Entry {
  /** HTTP/2 sessions open now. */
  readonly sessions: number
  /** Sends GOAWAY on every HTTP/2 session (streams in flight finish); destroys what is left after `graceMs`. */
  close(graceMs?: number): void
}

/**
 * Makes `server` (node:http, HTTP/1.1) also speak HTTP/2 with prior knowledge
 * (h2c) on the same port. node:http2's `allowHTTP1` only works over TLS (it
 * picks the protocol by ALPN), so each new connection is sniffed instead: one
 * that opens with the HTTP/2 preface goes to an HTTP/2 session, any other to
 * the HTTP/1 server as before. Both end in the same `handler`, so `/pub/…`
 * takes the same proxy code path. HTTP/2 requests are adapted to look like
 * node:http's where the proxy reads them (Host from `:authority`, no
 * pseudo-headers among the raw headers, no status message).
 */
export function acceptH2c(server: Server, handler: (req: IncomingMessage, res: ServerResponse) => void, sniffTimeoutMs = 20_000): H2Entry {
  const { h2, entry } = h2Entry(handler)
  const http1Listeners = server.listeners('connection') as Array<(socket: Socket) => void>
  server.removeAllListeners('connection')
  const toHttp1 = (socket: Socket): void => {
    for (const listener of http1Listeners) listener.call(server, socket)
  }

  server.on('connection', (socket: Socket) => {
    let seen: Buffer = Buffer.alloc(0)
    const ignoreError = (): void => {}
    socket.on('error', ignoreError)
    socket.setTimeout(sniffTimeoutMs, () => socket.destroy())
    const onData = (chunk: Buffer): void => {
      seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk])
      const n = Math.min(seen.length, PREFACE.length)
      const matches = seen.subarray(0, n).equals(PREFACE.subarray(0, n))
      if (matches && n < PREFACE.length) return // not enough bytes to tell yet
      socket.off('data', onData)
      socket.off('error', ignoreError)
      socket.setTimeout(0)
      socket.pause()
      socket.unshift(seen)
      if (matches) {
        // node:http2 reads what is already buffered on the socket before its native handle.
        h2.emit('connection', socket)
      } else {
        toHttp1(socket)
        // node:http reads the socket's native handle directly from now on; the
        // bytes read while sniffing are in the JS buffer and flow as 'data' once resumed.
        socket.resume()
      }
    }
    socket.on('data', onData)
  })
  return entry
}

/**
 * Makes `server` (node:https: TLS, HTTP/1.1) also speak HTTP/2 over TLS on the
 * same port: the protocol is the one the client chose by ALPN (the server
 * offers `h2` and `http/1.1`; a client that offers neither gets HTTP/1.1).
 * An `h2` connection goes to the same HTTP/2 sessions and `handler` as h2c
 * (acceptH2c); any other to the HTTP/1 server as before, upgrades included.
 * Unlike node:http2's `allowHTTP1`, the HTTP/1 side stays a node:http server
 * with all of its limits, timeouts and connection tracking.
 */
export function acceptH2OverTls(server: HttpsServer, handler: (req: IncomingMessage, res: ServerResponse) => void): H2Entry {
  const { h2, entry } = h2Entry(handler)
  const http1Listeners = server.listeners('secureConnection') as Array<(socket: TLSSocket) => void>
  server.removeAllListeners('secureConnection')
  server.on('secureConnection', (socket: TLSSocket) => {
    if (socket.alpnProtocol === 'h2') {
      h2.emit('connection', socket)
      return
    }
    for (const listener of http1Listeners) listener.call(server, socket)
  })
  return entry
}

/** The HTTP/2 side shared by h2c and TLS: sessions that hand every request to `handler`, adapted. */
function h2Entry(handler: (req: IncomingMessage, res: ServerResponse) => void): { h2: Http2Server; entry: H2Entry } {
  const h2 = createHttp2Server({ settings: { enablePush: false } })
  const sessions = new Set<Http2Session>()
  h2.on('session', (session: Http2Session) => {
    sessions.add(session)
    session.once('close', () => sessions.delete(session))
  })
  h2.on('request', (req: Http2ServerRequest, res: Http2ServerResponse) => {
    adaptRequest(req)
    adaptResponse(res)
    handler(req as unknown as IncomingMessage, res as unknown as ServerResponse)
  })
  h2.on('sessionError', () => {})
  const entry: H2Entry = {
    get sessions() {
      return sessions.size
    },
    close(graceMs = 1000) {
      for (const session of sessions) session.close()
      if (sessions.size === 0) return
      setTimeout(() => {
        for (const session of sessions) session.destroy()
      }, graceMs).unref()
    },
  }
  return { h2, entry }
}

function adaptRequest(req: Http2ServerRequest): void {
  const authority = req.headers[':authority']
  if (req.headers.host === undefined && typeof authority === 'string') req.headers.host = authority
  const raw = req.rawHeaders
  const plain: string[] = []
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.startsWith(':')) continue
    plain.push(raw[i]!, raw[i + 1]!)
  }
  if (!plain.some((v, i) => i % 2 === 0 && v.toLowerCase() === 'host') && typeof authority === 'string') plain.push('host', authority)
  Object.defineProperty(req, 'rawHeaders', { value: plain, configurable: true })
}

function adaptResponse(res: Http2ServerResponse): void {
  // HTTP/2 has no status message; node:http2 warns when given one.
  const writeHead = res.writeHead
  res.writeHead = function (this: Http2ServerResponse, status: number, message?: unknown, headers?: unknown) {
    if (typeof message === 'string') return writeHead.call(this, status, headers as never)
    return writeHead.call(this, status, message as never, headers as never)
  } as typeof res.writeHead
  // A response destroyed before its end was cut (the agent gone, the relay lost, the service reset …). node:http2's
  // destroy() without an error sends RST_STREAM(NO_ERROR), which clients — node:http2 among them — read as the end
  // of the body: a cut body would look complete. The stream is reset with INTERNAL_ERROR instead. Every caller
  // (abortResponse, an exchange's cancel, an error after the head) destroys through here, over h2c and TLS alike.
  const destroy = res.destroy
  res.destroy = function (this: Http2ServerResponse, error?: Error) {
    const stream = this.stream
    if (!this.writableEnded && stream !== undefined && !stream.closed && !stream.destroyed) stream.close(h2constants.NGHTTP2_INTERNAL_ERROR)
    return destroy.call(this, error)
  } as typeof res.destroy
}
