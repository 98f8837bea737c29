import { Readable, type Duplex } from 'node:stream'
import type { Dispatcher } from 'undici'
import { createPool } from '../http/undici-parts.js'
import { AlpnOrigin } from './alpn-origin.js'
import { H2Origin } from './h2-origin.js'
import { TrailerOrigin } from './trailer-origin.js'
import { Pipe, ResetCode, type RequestHead, type ResponseHead, type Stream, type StreamHandler, type TrailerFields } from '../protocol/index.js'
import { stripHopByHop } from '../http/hop-by-hop.js'
import { trailerFields, trailerPairs } from '../http/trailer-fields.js'
import type { HostHeaderMode } from './config.js'
import type { ExchangeObserver } from './exchange-observer.js'
import { applyToFlat, applyToPairs, variablesFor, type HeaderVariables } from './header-rules.js'
import { LocalAnswer } from './local-answer.js'
import { WebhookGate } from './webhook-gate.js'
import { putUnderPrefix } from '../http/under-prefix.js'
import { resetAwareConnector } from './reset-aware-connector.js'
import { originKey, strippedPrefix, stripRoutePrefix, type Route, type RouteTable } from './routes.js'
import { SocketBridge } from './socket-bridge.js'

export interface LocalForwarderOptions {
  /** Where each request goes; a plain `--local` tunnel has one catch-all route. */
  routes: RouteTable
  /** The tunnel's Host policy, for routes that set none. */
  hostHeader: HostHeaderMode
  connections: number
  observer: ExchangeObserver | undefined
  tunnelId: () => string
}

const NOT_TCP = 'this is an HTTP tunnel: `adit connect` reaches tunnels started with `adit tcp`'

/** Request headers undici manages itself or refuses (it rejects `expect`). */
const dropToLocal = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'expect', 'te', 'trailer', 'proxy-connection'])

/** The request announces a trailer section (`Trailer`, passed on by the server for this). */
function announcesTrailers(headers: ReadonlyArray<[string, string]>): boolean {
  for (const [name] of headers) if (name.length === 7 && name.toLowerCase() === 'trailer') return true
  return false
}

/** The public host of a request: the server's X-Forwarded-Host, else Host. */
export function publicHost(headers: ReadonlyArray<[string, string]>): string | undefined {
  let host: string | undefined
  for (const [name, value] of headers) {
    if (name.length === 16 && name.toLowerCase() === 'x-forwarded-host') return value
    if (host === undefined && name.length === 4 && name.toLowerCase() === 'host') host = value
  }
  return host
}

/**
 * Sends each stream's request to the local service its route names — only
 * ever one of the origins this agent was started with (the server can
 * choose the path, never the host) — through one keep-alive undici pool per
 * origin, at dispatch level: the response body flows straight from undici's
 * parser into DATA frames, paused by returning false.
 */
export class LocalForwarder {
  readonly routes: RouteTable
  private readonly pools = new Map<string, Dispatcher>()
  private readonly origins = new Map<string, RouteTable['origins'][number]>()
  private readonly trailerOrigins = new Map<string, TrailerOrigin>()
  private readonly options: LocalForwarderOptions
  private nextExchange = 1

  constructor(options: LocalForwarderOptions) {
    this.options = options
    this.routes = options.routes
    for (const origin of options.routes.origins) this.origins.set(origin.key, origin)
  }

  /**
   * Makes every origin's pool now. The tunnel calls it once it is online: the pools (and undici's
   * client, ~25 ms of loading on Node 24) are not on the way to the `forwarding` line, and the first
   * request finds them ready. A pool asked for earlier is made then.
   */
  warm(): void {
    for (const key of this.origins.keys()) this.dispatcherFor(key)
  }

  private dispatcherFor(key: string): Dispatcher {
    let made = this.pools.get(key)
    const origin = this.origins.get(key)
    if (made === undefined && origin !== undefined) {
      made = this.makePool(origin)
      this.pools.set(key, made)
    }
    return made!
  }

  private makePool(origin: RouteTable['origins'][number]): Dispatcher {
    const options = this.options
    if (origin.url.protocol === 'h2c:') {
      // HTTP/2 with prior knowledge: one multiplexed node:http2 session instead of a pool of HTTP/1.1 connections.
      return new H2Origin({ url: origin.url })
    }
    const pool = createPool(origin.url.origin, {
      connections: options.connections,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      // The server owns the response deadline and resets the stream; the
      // agent never cuts a slow download on its own (a route's responseTimeout is per request).
      headersTimeout: 0,
      bodyTimeout: 0,
      connect: resetAwareConnector(origin.url.protocol === 'https:' ? { rejectUnauthorized: !origin.insecure } : {}),
    })
    // An https:// service is asked by ALPN: HTTP/2 when it offers h2 (gRPC over TLS), else this pool.
    return origin.url.protocol === 'https:' ? new AlpnOrigin(origin.url, pool, !origin.insecure) : pool
  }

  /** The pool of the first origin (a plain `--local` tunnel's only one). */
  get pool(): Dispatcher {
    return this.dispatcherFor(this.origins.keys().next().value as string)
  }

  /** node:http to a route's http:// origin, for requests that announce trailers (made on first use). */
  trailerOriginFor(route: Route): Dispatcher {
    const key = originKey(route)
    let origin = this.trailerOrigins.get(key)
    if (origin === undefined) {
      origin = new TrailerOrigin(route.local!, this.options.connections)
      this.trailerOrigins.set(key, origin)
    }
    return origin
  }

  /** The pool of a route that has a local origin: an undici Pool, or an H2Origin for h2c://. */
  poolFor(route: Route): Dispatcher {
    return this.dispatcherFor(originKey(route))
  }

  /** The route a request takes. */
  routeFor(head: Pick<RequestHead, 'path' | 'headers'>): Route {
    const table = this.routes
    return table.single ? table.routes[0]! : table.match(publicHost(head.headers), head.path)
  }

  /** Starts forwarding a stream; returns the handler that receives its frames. */
  forward(stream: Stream, head: RequestHead): StreamHandler {
    const id = `${this.nextExchange++}`
    // A TCP visitor reached an HTTP tunnel: nothing to forward it to.
    if (head.tcp === true)
      return new LocalAnswer(this, stream, head, id, { status: 404, message: NOT_TCP, answeredBy: 'agent: not a TCP tunnel', route: undefined })
    const route = this.routeFor(head)
    if (route.local === undefined) {
      const message = route.implicit ? 'no route for this request on this tunnel' : `answered by route ${route.index + 1}`
      return new LocalAnswer(this, stream, head, id, { status: route.status, message, answeredBy: `route ${route.label}`, route: this.routeLabel(route) })
    }
    if (route.webhook !== undefined) return new WebhookGate(this, stream, head, id, route, route.webhook)
    return new ForwardedExchange(this, stream, head, id, route)
  }

  /** Forwards a request whose whole body is already here (a verified webhook). */
  forwardBuffered(stream: Stream, head: RequestHead, id: string, route: Route, body: Buffer): StreamHandler {
    return new ForwardedExchange(this, stream, head, id, route, body)
  }

  /** What the observer is told about a request's route: nothing for a plain one-origin tunnel. */
  routeLabel(route: Route): string | undefined {
    return this.routes.single ? undefined : route.label
  }

  get observer(): ExchangeObserver | undefined {
    return this.options.observer
  }

  get tunnelId(): string {
    return this.options.tunnelId()
  }

  requestHeaders(head: Pick<RequestHead, 'headers' | 'requestId'>, route: Route = this.routes.routes[0]!): string[] {
    const out: string[] = []
    const mode = route.hostHeader ?? this.options.hostHeader
    const stripped = strippedPrefix(route)
    const prefix = stripped === '' ? undefined : stripped
    let sawPrefix = false
    // An HTTP/2 service gets `te: trailers` (gRPC servers need it); an https:// one may turn out to speak HTTP/2 (ALPN).
    const keepTe = route.local?.protocol === 'h2c:' || route.local?.protocol === 'https:'
    for (const [name, value] of head.headers) {
      const lower = name.toLowerCase()
      if (dropToLocal.has(lower) && !(keepTe && lower === 'te')) continue
      if (lower === 'host' && mode !== 'preserve') continue
      if (prefix !== undefined && lower === 'x-forwarded-prefix') {
        // The service lives under both prefixes now: /pub/{id} and the route's.
        out.push(name, value + prefix)
        sawPrefix = true
        continue
      }
      out.push(name, value)
    }
    if (prefix !== undefined && !sawPrefix) out.push('x-forwarded-prefix', prefix)
    if (typeof mode === 'object') out.push('host', mode.value)
    const rules = route.requestRules
    if (rules === undefined) return out
    return applyToFlat(out, rules, rules.usesVariables ? this.variables(head) : undefined)
  }

  /**
   * The response head the visitor sees from a route's service (hop-by-hop
   * already gone): Location and cookie paths put back under a stripped
   * prefix, then the route's response rules — for a forwarded request and a
   * replay alike.
   */
  responseHeaders(head: Pick<RequestHead, 'headers' | 'requestId'>, route: Route, pairs: Array<[string, string]>): Array<[string, string]> {
    putUnderPrefix(pairs, strippedPrefix(route))
    const rules = route.responseRules
    if (rules === undefined) return pairs
    return applyToPairs(pairs, rules, rules.usesVariables ? this.variables(head) : undefined)
  }

  /** `${client_ip}`, `${request_id}`, `${tunnel}` for a request's header rules. */
  variables(head: Pick<RequestHead, 'headers' | 'requestId'>): HeaderVariables {
    return variablesFor(head.headers, head.requestId, this.tunnelId)
  }

  /** Closes the pool; requests still running after a second are cut (a long download must not hold the exit). */
  async close(): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), 1000)
    })
    // Every pool exists once closed, so a late request is refused as it was by a closed pool, not given a new one.
    this.warm()
    const pools = [...this.pools.values(), ...this.trailerOrigins.values()]
    const outcome = await Promise.race([Promise.all(pools.map((p) => p.close())).then(() => 'closed' as const), late])
    clearTimeout(timer)
    if (outcome === 'late') await Promise.all(pools.map((p) => p.destroy()))
  }
}

/** The request body, fed by DATA frames through `intake`; credit goes back (the pipe is told) as undici pulls. */
class StreamBody extends Readable {
  /** The pipe's destination: a push that says whether the body wants more. */
  readonly intake = { write: (chunk: Buffer): boolean => this.push(chunk) }
  constructor(private readonly toLocal: Pipe) {
    super({ highWaterMark: 64 * 1024 })
  }
  override _read(): void {
    this.toLocal.drained()
  }
}

function resetCodeFor(error: NodeJS.ErrnoException): number {
  switch (error.code) {
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EAI_AGAIN':
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
    case 'CERT_HAS_EXPIRED':
      return ResetCode.LOCAL_UNREACHABLE
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return ResetCode.TIMEOUT
    default:
      return ResetCode.LOCAL_ERROR
  }
}

function describe(error: NodeJS.ErrnoException): string {
  const hint = error.code?.includes('CERT') || error.code?.includes('SELF_SIGNED') ? ' (use --local-insecure for a self-signed certificate)' : ''
  return `${error.code ?? 'error'}: ${error.message}${hint}`.slice(0, 300)
}

/**
 * One request forwarded to the local service. Implements the stream side
 * (frames from the server) here and the undici side in `LocalResponse`;
 * both are plain objects with no per-chunk closures.
 */
class ForwardedExchange implements StreamHandler {
  readonly id: string
  readonly stream: Stream
  readonly forwarder: LocalForwarder
  readonly body: StreamBody | null
  readonly response: LocalResponse
  readonly route: Route
  /** What the observer and the server's dashboard are told about the route: undefined on a one-origin tunnel. */
  readonly routeLabel: string | undefined
  readonly head: RequestHead
  readonly started = Date.now()
  requestBytes = 0
  done = false
  /** The public request's trailer fields (TRAILERS), sent after the body where the local protocol can (HTTP/2). */
  requestTrailers: TrailerFields | null = null
  /** After a 101: the local service's socket, piped to and from the stream. */
  private upgraded: SocketBridge | null = null
  /** Request bytes → the body undici reads, or after a 101 the local socket; credit back once it took them (none: dropped, credited). */
  private readonly toLocal: Pipe

  constructor(forwarder: LocalForwarder, stream: Stream, head: RequestHead, id: string, route: Route, buffered?: Buffer) {
    this.id = id
    this.route = route
    this.routeLabel = forwarder.routeLabel(route)
    this.head = head
    this.stream = stream
    this.forwarder = forwarder
    this.toLocal = new Pipe({ source: stream })
    this.body = head.bodyless || buffered !== undefined ? null : new StreamBody(this.toLocal)
    this.toLocal.destination = this.body?.intake ?? null
    this.response = new LocalResponse(this)
    forwarder.observer?.onRequest({
      id,
      requestId: head.requestId,
      tunnelId: forwarder.tunnelId,
      method: head.method,
      path: head.path,
      headers: head.headers,
      startedAt: this.started,
      ...(this.routeLabel === undefined ? {} : { route: this.routeLabel }),
    })
    if (buffered !== undefined) {
      this.requestBytes = buffered.length
      if (buffered.length > 0) forwarder.observer?.onRequestBody?.(id, buffered)
    }
    const upgrade = head.upgrade === true ? (head.headers.find(([n]) => n.toLowerCase() === 'upgrade')?.[1] ?? 'websocket') : null
    const options: Dispatcher.DispatchOptions = {
      path: stripRoutePrefix(route, head.path),
      method: head.method as Dispatcher.HttpMethod,
      headers: forwarder.requestHeaders(head, route),
      body: buffered !== undefined && !head.bodyless ? buffered : this.body,
      ...(upgrade !== null ? { upgrade } : {}),
      ...(route.responseTimeoutMs !== undefined ? { headersTimeout: route.responseTimeoutMs } : {}),
    }
    // A request that announces trailers (Trailer) to an http:// service goes through node:http, which can send them.
    const withTrailers = upgrade === null && this.body !== null && route.local?.protocol === 'http:' && announcesTrailers(head.headers)
    ;(withTrailers ? forwarder.trailerOriginFor(route) : forwarder.poolFor(route)).dispatch(options, this.response)
  }

  // Frames from the server

  onData(chunk: Buffer): void {
    this.requestBytes += chunk.length
    if (this.upgraded !== null) return this.upgraded.onData(chunk)
    if (this.body !== null) this.forwarder.observer?.onRequestBody?.(this.id, chunk)
    this.toLocal.push(chunk)
  }

  onTrailers(trailers: TrailerFields): void {
    const allowed = trailerPairs(trailers)
    if (allowed.length > 0) this.requestTrailers = allowed
  }

  onEnd(): void {
    if (this.upgraded !== null) return this.upgraded.onEnd()
    this.body?.push(null)
  }

  onReset(_code: number, reason: string): void {
    this.finish(reason || 'reset by server')
    this.response.abort(new Error(reason || 'stream reset by the server'))
    this.body?.destroy()
    this.upgraded?.onReset()
  }

  onDrain(): void {
    if (this.upgraded !== null) this.upgraded.onDrain()
    else this.response.resume()
  }

  /** The local service switched protocols: from now on the stream is a raw pipe to its socket. */
  upgrade(socket: Duplex): void {
    this.upgraded = new SocketBridge(this.stream, socket, this.toLocal, {
      onSocketBytes: (n) => {
        this.response.bytes += n
      },
      onClosed: () => this.finish(),
    })
  }

  /** The response head the visitor sees (LocalForwarder.responseHeaders). */
  responseHeaders(pairs: Array<[string, string]>): Array<[string, string]> {
    return this.forwarder.responseHeaders(this.head, this.route, pairs)
  }

  finish(error?: string): void {
    if (this.done) return
    this.done = true
    this.forwarder.observer?.onEnd({
      id: this.id,
      status: this.response.status,
      responseHeaders: this.response.headers,
      requestBytes: this.requestBytes,
      responseBytes: this.response.bytes,
      durationMs: Date.now() - this.started,
      ...(error === undefined ? {} : { error }),
    })
  }
}

/** undici's side of an exchange (its classic handler interface, which hands raw header buffers). */
class LocalResponse implements Dispatcher.DispatchHandler {
  status = 0
  headers: Array<[string, string]> = []
  bytes = 0
  /** The body's length from Content-Length, or -1: the DATA frame that completes it carries END. */
  private expected = -1
  private readonly exchange: ForwardedExchange
  private abortFn: ((err?: Error) => void) | undefined
  private resumeFn: (() => void) | undefined
  private aborted: Error | undefined

  constructor(exchange: ForwardedExchange) {
    this.exchange = exchange
  }

  abort(error: Error): void {
    this.aborted = error
    this.abortFn?.(error)
  }

  /** The request's trailers, asked for by an HTTP/2 origin once the body has ended (RequestTrailerSource). */
  requestTrailers(): TrailerFields | null {
    return this.exchange.requestTrailers
  }

  resume(): void {
    this.resumeFn?.()
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortFn = abort
    if (this.aborted) abort(this.aborted)
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (statusCode < 200) return true
    this.resumeFn = resume
    this.status = statusCode
    const pairs: Array<[string, string]> = []
    let length = -1
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!.toString('latin1')
      const value = rawHeaders[i + 1]!.toString('latin1')
      if (name.length === 14 && name.toLowerCase() === 'content-length' && /^\d{1,15}$/.test(value)) length = Number(value)
      pairs.push([name, value])
    }
    const { exchange } = this
    const headers = exchange.responseHeaders(stripHopByHop(pairs))
    this.headers = headers
    exchange.forwarder.observer?.onResponse?.(exchange.id, statusCode, headers)
    // No body follows (RFC 9110 §6.4.1): END rides on HEAD.
    const bodyless = statusCode === 204 || statusCode === 304 || exchange.head.method === 'HEAD' || length === 0
    this.expected = bodyless ? -1 : length
    const response: ResponseHead = { status: statusCode, headers }
    if (statusText) response.statusText = statusText
    if (exchange.routeLabel !== undefined) response.route = exchange.routeLabel
    exchange.stream.sendHead(response, bodyless)
    return true
  }

  onUpgrade(statusCode: number, rawHeaders: Buffer[] | string[] | null, socket: Duplex): void {
    const { exchange } = this
    this.status = statusCode
    const pairs: Array<[string, string]> = []
    const raw = rawHeaders ?? []
    for (let i = 0; i + 1 < raw.length; i += 2) pairs.push([raw[i]!.toString(), raw[i + 1]!.toString()])
    const headers = exchange.responseHeaders(stripHopByHop(pairs, true))
    this.headers = headers
    exchange.forwarder.observer?.onResponse?.(exchange.id, statusCode, headers)
    const response: ResponseHead = { status: statusCode, headers, statusText: 'Switching Protocols' }
    if (exchange.routeLabel !== undefined) response.route = exchange.routeLabel
    exchange.stream.sendHead(response)
    exchange.upgrade(socket)
  }

  onData(chunk: Buffer): boolean {
    this.bytes += chunk.length
    this.exchange.forwarder.observer?.onResponseBody?.(this.exchange.id, chunk)
    if (this.bytes === this.expected) {
      // The body's last bytes: END rides on this DATA frame.
      this.exchange.stream.writeLast(chunk)
      return true
    }
    return this.exchange.stream.write(chunk)
  }

  /** The body is complete; a chunked response's trailer section (undici hands it here) ends the stream as TRAILERS. */
  onComplete(trailers: Buffer[] | string[] | null): void {
    const fields = trailers === null || trailers.length === 0 ? [] : trailerFields(trailers.map((t) => t.toString('latin1')))
    if (fields.length > 0) this.exchange.stream.endWithTrailers(fields)
    else this.exchange.stream.end()
    this.exchange.finish()
  }

  onError(error: Error): void {
    const { exchange } = this
    if (exchange.done) return
    const err = error as NodeJS.ErrnoException
    const code = this.status === 0 ? resetCodeFor(err) : ResetCode.LOCAL_ERROR
    exchange.stream.reset(code, describe(err))
    exchange.finish(describe(err))
  }
}
