import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { randomBytes } from 'node:crypto'
import type { WebSocket } from 'ws'
import { GoAwayCode } from '../protocol/index.js'
import { ErrorCode } from '../errors.js'
import { createLogger, redactUrl, type Logger } from '../observability/logger.js'
import { AgentConnection } from './agent-connection.js'
import { resolveServerOptions, type ServerOptions } from './config.js'
import { Credentials } from './credentials.js'
import { requestHeadersFor } from './forwarded-headers.js'
import { ProxyExchange, type ExchangeSummary } from './proxy-exchange.js'
import { handleRegister } from './registration.js'
import { routePub } from './tunnel-routes.js'
import { TunnelRegistry } from './tunnel-registry.js'
import { AgentEndpoint, reject } from './ws-endpoint.js'
import { createMemoryCluster } from '../cluster/memory.js'
import { CloseCode } from './agent-connection.js'
import { ServerSecurity } from './security/server-security.js'

export interface RunningServer {
  /** `http://host:port` the server listens on. */
  readonly url: string
  readonly port: number
  readonly registry: TunnelRegistry
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
  const registry = new TunnelRegistry()
  let draining = false
  // Security: without a cluster, a private in-memory store keeps revocations,
  // rotations, owners and access rules for this process.
  const ownStore = options.cluster === undefined ? createMemoryCluster({ instanceId: 'local' }) : undefined
  const store = options.cluster?.store ?? ownStore!.store
  const security = new ServerSecurity(options.security, {
    credentials,
    store,
    logger,
    trustProxy: options.trustProxy,
    liveTunnelIds: () => [...registry.connections()].map((c) => c.tunnelId),
    disconnect: (id) => {
      for (const connection of registry.get(id)?.connections ?? []) {
        connection.goAway(GoAwayCode.REVOKED)
        connection.close(CloseCode.POLICY, 'tunnel revoked')
      }
    },
  })

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

  const logExchange = (summary: ExchangeSummary): void => {
    logger.info(
      {
        requestId: summary.requestId,
        tunnel: summary.tunnelId,
        method: summary.method,
        path: redactUrl(summary.path),
        status: summary.status,
        requestBytes: summary.requestBytes,
        responseBytes: summary.responseBytes,
        latencyMs: Math.round(summary.durationMs * 10) / 10,
        error: summary.error,
      },
      'proxied',
    )
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
    // Security: a request admitted by the guard holds a stream slot until its exchange is done.
    let admitted = false
    const onExchangeDone = (summary: ExchangeSummary): void => {
      if (admitted) security.release(tunnelId)
      logExchange(summary)
    }
    const exchange = new ProxyExchange(
      req,
      res,
      { requestId, tunnelId, path: route.kind === 'tunnel' ? route.path : url, prefix: route.kind === 'tunnel' ? route.prefix : '', responseTimeoutMs: options.responseTimeoutMs },
      onExchangeDone,
    )
    if (route.kind === 'bad-id') return exchange.fail(ErrorCode.UNKNOWN_TUNNEL)
    if (draining) return exchange.fail(ErrorCode.SHUTTING_DOWN, undefined, { 'retry-after': '1' })
    // Security: rate, access rules and stream cap, before anything reaches the agent.
    const admission = await security.admit(route.id, req)
    if (!admission.ok) return exchange.fail(admission.denial.code, undefined, admission.denial.headers)
    admitted = true
    const connection = registry.get(route.id)?.pick()
    if (connection === undefined) {
      if (await store.isRevoked(route.id)) return exchange.fail(ErrorCode.TUNNEL_REVOKED)
      let known = credentials.isSignedId(route.id)
      if (!known) known = (await store.get(route.id)) !== null
      return exchange.fail(known ? ErrorCode.AGENT_NOT_CONNECTED : ErrorCode.UNKNOWN_TUNNEL)
    }
    let headers = requestHeadersFor(
      req,
      { clientIp: clientAddress(req), proto: publicProto(req), host: publicHost(req), prefix: route.prefix, requestId, trustProxy: options.trustProxy },
      false,
    )
    // Security: tunnel-level basic-auth credentials are the server's, not the service's.
    if (admission.gate?.consumesAuthorization) headers = headers.filter(([name]) => name.toLowerCase() !== 'authorization')
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
    if (path === '/readyz') return draining ? plain(res, 503, 'draining') : plain(res, 200, 'ready')
    if (path === '/register') {
      if (req.method !== 'POST') return plain(res, 405, 'use POST /register', { allow: 'POST' })
      if (draining) return plain(res, 503, 'server is shutting down; retry', { 'retry-after': '1' })
      handleRegister(req, res, { credentials, store, publicUrlFor, security }).catch((error: unknown) => internalError(res, error))
      return
    }
    // Security: POST /tunnels/{id}/rotate, DELETE /tunnels/{id}.
    const admin = path.startsWith('/tunnels/') ? security.handleAdmin(req, res, path) : false
    if (admin !== false) {
      admin.catch((error: unknown) => internalError(res, error))
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
        onClose: (c) => registry.remove(c),
      })
      registry.add(connection)
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
    // Node checks the headers timeout only this often (30 s by default): check
    // often enough that a slow-header client is cut close to headersTimeout.
    connectionsCheckingInterval: Math.max(100, Math.min(30_000, Math.floor(options.headersTimeoutMs / 4))),
  })
  server.on('request', handleRequest)
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
      security.close()
      await ownStore?.close()
      server.closeIdleConnections()
      const forceAt = setTimeout(() => server.closeAllConnections(), 1000)
      await closed
      clearTimeout(forceAt)
    })())

  return { url, port, registry, close }
}

function plain(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  const body = `${text}\n`
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), ...headers })
  res.end(body)
}
