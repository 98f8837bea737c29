import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { randomBytes } from 'node:crypto'
import type { WebSocket } from 'ws'
import { GoAwayCode } from '../protocol/index.js'
import { ErrorCode } from '../errors.js'
import { createLogger, type Logger } from '../observability/logger.js'
import { AgentConnection } from './agent-connection.js'
import { resolveServerOptions, type ServerOptions } from './config.js'
import { Credentials } from './credentials.js'
import { requestHeadersFor } from './forwarded-headers.js'
import { ProxyExchange, type ExchangeSummary } from './proxy-exchange.js'
import { handleRegister } from './registration.js'
import { routePub } from './tunnel-routes.js'
import { TunnelRegistry } from './tunnel-registry.js'
import { AgentEndpoint, reject } from './ws-endpoint.js'
import { subscribeAccessLog } from '../observability/access-log.js'
import { channels, type ServerExchangeMessage } from '../observability/channels.js'
import { answerMetrics } from '../observability/metrics-http.js'
import { ServerMetrics } from '../observability/metrics.js'
import { childContext, endHttpSpan, formatTraceparent, setTraceparent, SpanKind, startSpan, traceContextFrom, type TraceContext } from '../observability/tracing.js'
import { acceptH2c } from './h2c.js'

export interface RunningServer {
  /** `http://host:port` the server listens on. */
  readonly url: string
  readonly port: number
  readonly registry: TunnelRegistry
  /** The Prometheus metrics `/metrics` serves (undefined when `metrics: false`). */
  readonly metrics: ServerMetrics | undefined
  /** Graceful: stop accepting, GOAWAY to agents, let streams finish (up to drainTimeoutMs), close. */
  close(): Promise<void>
}

function newRequestId(): string {
  return randomBytes(9).toString('base64url')
}

function clientAddress(req: IncomingMessage): string {
  const address = req.socket.remoteAddress ?? ''
  return address.startsWith('::ffff:') ? address.slice(7) : address
}

function firstValue(value: string | string[] | undefined): string | undefined {
  const v = Array.isArray(value) ? value[0] : value
  return v?.split(',')[0]?.trim() || undefined
}

/**
 * Starts the public server: `/register`, `/ws` (agents), `/pub/{id}/…`
 * (public traffic), `/healthz`, `/readyz`. Resolves once listening.
 *
 * @example
 * const server = await startServer({ port: 0, host: '127.0.0.1' })
 * console.log(server.url)
 * await server.close()
 */
export async function startServer(input: Partial<ServerOptions> = {}): Promise<RunningServer> {
  const options = resolveServerOptions(input)
  const logger: Logger = options.logger ?? createLogger({ name: 'adit-server' })
  const credentials = new Credentials(options.signingKeys)
  if (credentials.ephemeral) {
    logger.warn('no ADIT_SIGNING_KEY set: made one for this process; tunnels will not survive a restart (set ADIT_SIGNING_KEY to keep them)')
  }
  const store = options.cluster?.store
  const registry = new TunnelRegistry()
  let draining = false

  const publicProto = (req: IncomingMessage): string =>
    (options.trustProxy ? firstValue(req.headers['x-forwarded-proto']) : undefined) ?? ((req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http')
  const publicHost = (req: IncomingMessage): string =>
    (options.trustProxy ? firstValue(req.headers['x-forwarded-host']) : undefined) ?? req.headers.host ?? 'localhost'

  const publicUrlFor = (req: IncomingMessage, id: string): string => {
    if (options.publicBaseUrl !== undefined) return `${options.publicBaseUrl}/pub/${id}/`
    // The agent's own request: X-Forwarded-Proto is honoured here even when
    // not trusting proxies, since it only shapes the URL handed back to it.
    const proto = firstValue(req.headers['x-forwarded-proto']) ?? publicProto(req)
    return `${proto}://${publicHost(req)}/pub/${id}/`
  }

  // Observability subscribes to diagnostics channels; `origin` tells this server's events from another's.
  const origin: object = registry
  const metrics = options.metrics ? new ServerMetrics(origin, registry) : undefined
  const unsubscribeAccessLog = subscribeAccessLog(origin, logger, options.traceProject)

  /** Ends the span and publishes `adit:server:exchange` (access log, metrics). */
  const exchangeDone = (summary: ExchangeSummary, req: IncomingMessage, trace: TraceContext, span: ReturnType<typeof startSpan>): void => {
    endHttpSpan(span, summary.status, summary.error, { 'adit.request_id': summary.requestId, 'http.request.body.size': summary.requestBytes, 'http.response.body.size': summary.responseBytes })
    if (!channels.serverExchange.hasSubscribers) return
    const message: ServerExchangeMessage = {
      origin,
      summary,
      request: {
        url: `${publicProto(req)}://${publicHost(req)}${req.url ?? '/'}`,
        remoteIp: clientAddress(req),
        userAgent: req.headers['user-agent'],
        protocol: `HTTP/${req.httpVersion}`,
        traceId: trace.traceId,
        spanId: trace.spanId,
        traceSampled: trace.sampled,
      },
    }
    channels.serverExchange.publish(message)
  }

  const proxy = async (req: IncomingMessage, res: ServerResponse, url: string): Promise<void> => {
    const route = routePub(url)
    const requestId = newRequestId()
    if (route.kind === 'redirect') {
      res.writeHead(308, { location: route.location, 'content-length': 0, 'x-adit-request-id': requestId })
      res.end()
      return
    }
    const tunnelId = route.kind === 'tunnel' ? route.id : ''
    // The public request's trace (or a new one), shared by the span, the access log and the local service.
    const parentTrace = traceContextFrom(req.headers)
    const span = startSpan('adit proxy', SpanKind.SERVER, parentTrace, { 'http.request.method': req.method ?? 'GET', 'adit.tunnel.id': tunnelId, 'url.path': route.kind === 'tunnel' ? route.path : url })
    const trace = childContext(span, parentTrace)
    const exchange = new ProxyExchange(
      req,
      res,
      { requestId, tunnelId, path: route.kind === 'tunnel' ? route.path : url, prefix: route.kind === 'tunnel' ? route.prefix : '', responseTimeoutMs: options.responseTimeoutMs, origin },
      (summary) => exchangeDone(summary, req, trace, span),
    )
    if (route.kind === 'bad-id') return exchange.fail(ErrorCode.UNKNOWN_TUNNEL)
    if (draining) return exchange.fail(ErrorCode.SHUTTING_DOWN, undefined, { 'retry-after': '1' })
    const connection = registry.get(route.id)?.pick()
    if (connection === undefined) {
      let known = credentials.isSignedId(route.id)
      if (!known && store !== undefined) known = (await store.get(route.id)) !== null
      return exchange.fail(known ? ErrorCode.AGENT_NOT_CONNECTED : ErrorCode.UNKNOWN_TUNNEL)
    }
    const headers = requestHeadersFor(
      req,
      { clientIp: clientAddress(req), proto: publicProto(req), host: publicHost(req), prefix: route.prefix, requestId, trustProxy: options.trustProxy },
      false,
    )
    setTraceparent(headers, formatTraceparent(trace))
    const hasBody = req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0')
    const stream = connection.session.openStream({ method: req.method ?? 'GET', path: route.path, headers, requestId, ...(hasBody ? {} : { bodyless: true }) }, exchange)
    if (stream === null) return exchange.fail(ErrorCode.AGENT_NOT_CONNECTED, 'agent connection is going away')
    exchange.attach(stream)
  }

  const handleRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '/'
    if (url.startsWith('/pub/') || url === '/pub') {
      proxy(req, res, url === '/pub' ? '/pub/' : url).catch((error: unknown) => internalError(res, error))
      return
    }
    const q = url.indexOf('?')
    const path = q === -1 ? url : url.slice(0, q)
    if (path === '/healthz') return plain(res, 200, 'ok')
    if (path === '/readyz') {
      if (draining) return plain(res, 503, 'draining')
      if (options.cluster !== undefined && !options.cluster.healthy()) return plain(res, 503, `cluster store (${options.cluster.kind}) unreachable`)
      return plain(res, 200, 'ready')
    }
    if (path === '/metrics' && metrics !== undefined) return answerMetrics(req, res, metrics, options.metricsToken)
    if (path === '/register') {
      if (req.method !== 'POST') return plain(res, 405, 'use POST /register', { allow: 'POST' })
      if (draining) return plain(res, 503, 'server is shutting down; retry', { 'retry-after': '1' })
      handleRegister(req, res, { credentials, store, publicUrlFor }).catch((error: unknown) => internalError(res, error))
      return
    }
    plain(res, 404, 'not found: public traffic goes to /pub/{tunnel id}/…')
  }

  const internalError = (res: ServerResponse, error: unknown): void => {
    logger.error({ err: error instanceof Error ? error.stack : String(error) }, 'internal error')
    if (!res.headersSent) plain(res, 500, 'internal error')
    else res.destroy()
  }

  const endpoint = new AgentEndpoint({
    credentials,
    store,
    logger,
    maxFrameBytes: options.maxFrameBytes,
    accepting: () => !draining,
    onAgent: (ws: WebSocket, tunnelId: string) => {
      const connection = new AgentConnection(ws, tunnelId, {
        logger,
        heartbeatMs: options.heartbeatMs,
        maxJsonBodyBytes: options.maxJsonBodyBytes,
        onClose: (c) => {
          registry.remove(c)
          if (channels.serverAgent.hasSubscribers) channels.serverAgent.publish({ origin, event: 'disconnect', tunnelId: c.tunnelId, connection: c.number })
        },
      })
      registry.add(connection)
      if (channels.serverAgent.hasSubscribers) channels.serverAgent.publish({ origin, event: 'connect', tunnelId, connection: connection.number })
      store?.touch(tunnelId, Date.now()).catch(() => {})
      logger.info({ tunnel: tunnelId, connection: connection.number, protocol: connection.protocol }, 'agent connected')
    },
  })

  const server: Server = createServer({
    maxHeaderSize: options.maxHeaderBytes,
    headersTimeout: options.headersTimeoutMs,
    // Whole-request deadline off: uploads through a tunnel may be long; the
    // headers timeout and per-exchange timers guard against slow clients.
    requestTimeout: 0,
    keepAliveTimeout: options.keepAliveTimeoutMs,
  })
  server.on('request', handleRequest)
  // --h2c: HTTP/2 prior-knowledge cleartext on the same port, same handler.
  const h2c = options.h2c ? acceptH2c(server, handleRequest, options.headersTimeoutMs) : undefined
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {})
    const url = req.url ?? '/'
    if (url === '/ws' || url.startsWith('/ws?')) {
      endpoint.handleUpgrade(req, socket, head).catch(() => reject(socket, 503, 'internal error'))
      return
    }
    reject(socket, 501, 'WebSocket passthrough to tunnels is not supported by this server version')
  })
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (!socket.writable) return socket.destroy()
    const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400
    const text = status === 431 ? 'request header fields too large' : status === 408 ? 'request timeout' : 'bad request'
    socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: text/plain\r\nContent-Length: ${text.length + 1}\r\nConnection: close\r\n\r\n${text}\n`)
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  const displayHost = options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host.includes(':') ? `[${options.host}]` : options.host
  const url = `http://${displayHost}:${port}`

  let closing: Promise<void> | undefined
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      draining = true
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      for (const connection of registry.connections()) connection.goAway(GoAwayCode.NORMAL)
      const deadline = Date.now() + options.drainTimeoutMs
      while (Date.now() < deadline && [...registry.connections()].some((c) => c.session.activeStreams > 0)) {
        await new Promise((r) => setTimeout(r, 50))
      }
      for (const connection of registry.connections()) connection.close()
      endpoint.close()
      h2c?.close()
      server.closeIdleConnections()
      const forceAt = setTimeout(() => server.closeAllConnections(), 1000)
      await closed
      clearTimeout(forceAt)
      metrics?.close()
      unsubscribeAccessLog()
    })())

  return { url, port, registry, metrics, close }
}

function plain(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  const body = `${text}\n`
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), ...headers })
  res.end(body)
}
