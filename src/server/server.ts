import { createServer, type IncomingMessage, type Server, type ServerOptions as HttpServerOptions, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { Server as NetServer, type AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { randomBytes } from 'node:crypto'
import type { WebSocket } from 'ws'
import { GoAwayCode } from '../protocol/index.js'
import { createMemoryCluster } from '../cluster/memory.js'
import type { Cluster } from '../cluster/types.js'
import { ClusterError } from '../cluster/errors.js'
import { createLogger, type Logger } from '../observability/logger.js'
import { AgentConnection } from './agent-connection.js'
import { createDashboard } from './dashboard/dashboard.js'
import { resolveServerOptions, type ServerOptions } from './config.js'
import { checkTlsIdentity, type TlsIdentity } from './tls-identity.js'
import { Credentials } from './credentials.js'
import type { ExchangeSummary } from '../exchange/summary.js'
import { newRequestId, PublicProxy } from './public-proxy.js'
import { handleRegister } from './registration.js'
import { routeHost, routePub, type PubRoute } from './tunnel-routes.js'
import { TunnelRegistry } from './tunnel-registry.js'
import { AgentEndpoint, agentFeatures, reject } from './ws-endpoint.js'
import { isTcpVisitor, TcpVisitorAcceptor } from './tcp-visitor.js'
import { boundedStore } from './relay/bounded.js'
import { ClusterRelay } from './relay/cluster-relay.js'
import { RelayOpener } from './relay/relay-peer.js'
import { sendPublicError, sendPublicErrorOnSocket } from './public-errors.js'
import { ConfigError, ErrorCode } from '../errors.js'
import { CloseCode } from './agent-connection.js'
import { ServerSecurity } from './security/server-security.js'
import { subscribeAccessLog } from '../observability/access-log.js'
import { ChannelName, channels, subscribeFor, type ServerExchangeMessage } from '../observability/channels.js'
import { answerMetrics } from '../observability/metrics-http.js'
import { ServerMetrics } from '../observability/metrics.js'
import { acceptH2c, acceptH2OverTls } from './h2c.js'
import { firstHeaderValue } from '../http/header-value.js'
import { settleRequestTarget } from './request-target.js'

export interface RunningServer {
  /** `http://host:port` the server listens on (`https://` with `tls`). */
  readonly url: string
  readonly port: number
  readonly registry: TunnelRegistry
  readonly cluster: Cluster
  /** Cross-instance relay and presence; present when a cluster was passed in (`options.cluster`). */
  readonly relay: ClusterRelay | undefined
  /** The Prometheus metrics `/metrics` serves (undefined when `metrics: false`). */
  readonly metrics: ServerMetrics | undefined
  /** Replaces the TLS certificate and key for new connections (a renewal); throws on a server started without `tls`. */
  setTls(identity: TlsIdentity): void
  /** Graceful: stop accepting, GOAWAY to agents, let streams finish (up to drainTimeoutMs), close. */
  close(): Promise<void>
}

/**
 * Starts the public server: `/register`, `/ws` (agents), `/pub/{id}/…` and
 * `{id}.{PUBLIC_HOST_SUFFIX}` (public traffic, WebSockets included),
 * `/healthz`, `/readyz`. Resolves once listening.
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
  const ownCluster = options.cluster === undefined
  const cluster = options.cluster ?? createMemoryCluster({ instanceId: `local-${randomBytes(4).toString('hex')}` })
  const registry = new TunnelRegistry()
  // A cluster handed in may be shared with other instances: take part in it
  // (presence, relay). The private default, and a SQLite store (one process
  // holds its file), have nobody to share with.
  const shared = !ownCluster && cluster.kind !== 'sqlite'
  // GOAWAY(REVOKED) and close to a tunnel's agents here: it was revoked, or its record now belongs to someone else.
  const disconnect = (id: string, reason: string): void => {
    for (const connection of registry.get(id)?.connections ?? []) {
      connection.goAway(GoAwayCode.REVOKED)
      connection.close(CloseCode.POLICY, reason)
    }
    // Requests held for its agent stop waiting; resolve() then reads why (410 when revoked).
    registry.releaseWaiters(id)
  }
  const relay = shared ? new ClusterRelay(cluster, registry, logger, options.relay, { disconnect }) : undefined
  // Reads on the request and connect paths are bounded: a silent store means 503, never a hang.
  const store = relay === undefined ? cluster.store : boundedStore(cluster.store, relay.options.callTimeoutMs)
  let draining = false
  // Security: the dashboard's admin token also deletes tunnels (DELETE /tunnels/{id}).
  const security = new ServerSecurity(
    { ...(options.adminToken !== undefined ? { adminToken: options.adminToken } : {}), ...options.security },
    {
      credentials,
      store,
      rates: cluster.rates,
      logger,
      trustProxy: options.trustProxy,
      liveTunnelIds: () => [...registry.connections()].map((c) => c.tunnelId),
      disconnect: (id) => {
        disconnect(id, 'tunnel revoked')
        // Its agents on other instances are told now, not at their next record check.
        void relay?.tunnelRevoked(id)
      },
    },
  )

  const dashboard = createDashboard({
    adminToken: options.adminToken,
    registry,
    trustProxy: options.trustProxy,
    throttle: security.adminThrottle,
    clientKey: (req) => security.clientKey(req),
  })

  // Observability subscribes to diagnostics channels (the proxy publishes
  // adit:server:exchange per finished request); the registry is this server's origin.
  const origin: object = registry
  const metrics = options.metrics ? new ServerMetrics(origin, registry) : undefined
  const unsubscribeAccessLog = subscribeAccessLog(origin, logger, options.traceProject)
  const unsubscribeDashboard = options.adminToken
    ? subscribeFor<ServerExchangeMessage>(ChannelName.SERVER_EXCHANGE, origin, (m) => dashboard.recordExchange(m.summary))
    : () => {}
  const logExchange = (_summary: ExchangeSummary): void => {}

  const proxy = new PublicProxy({
    registry,
    store,
    credentials,
    logger,
    responseTimeoutMs: options.responseTimeoutMs,
    holdTimeoutMs: options.holdTimeoutMs,
    holdWindowMs: options.holdWindowMs,
    trustProxy: options.trustProxy,
    draining: () => draining,
    ...(relay
      ? {
          remoteOpener: relay.remoteOpener,
          holdPollMs: relay.options.holdPollMs,
          recentlyHeldElsewhere: relay.recentlyHeldElsewhere,
          storeUnsettled: relay.storeUnsettled,
          clusterHealthy: () => cluster.healthy(),
        }
      : {}),
    onExchange: logExchange,
    guard: security,
  })
  // Another instance that drains asks its relayed WebSocket sessions to close here, where their clients are.
  if (relay !== undefined)
    relay.onPeerLeaving = (peer, timeoutMs) => proxy.goAwayUpgradesThrough((opener) => opener instanceof RelayOpener && opener.peerId === peer, timeoutMs)

  const publicUrlFor = (req: IncomingMessage, id: string): string => {
    // The agent's own request: X-Forwarded-Proto is honoured here even when
    // not trusting proxies, since it only shapes the URL handed back to it.
    const proto =
      options.publicBaseUrl !== undefined
        ? new URL(options.publicBaseUrl).protocol.slice(0, -1)
        : (firstHeaderValue(req.headers['x-forwarded-proto']) ?? proxy.publicProto(req))
    if (options.publicHostSuffix !== undefined) {
      // Same scheme and port as the server itself is reached on (--public-base-url, else the agent's request).
      const port = options.publicBaseUrl !== undefined ? new URL(options.publicBaseUrl).port : portOfHost(proxy.publicHost(req))
      const defaultPort = (proto === 'https' && port === '443') || (proto === 'http' && port === '80')
      return `${proto}://${id}.${options.publicHostSuffix}${port === '' || defaultPort ? '' : `:${port}`}/`
    }
    if (options.publicBaseUrl !== undefined) return `${options.publicBaseUrl}/pub/${id}/`
    return `${proto}://${proxy.publicHost(req)}/pub/${id}/`
  }

  const routeOf = (req: IncomingMessage): PubRoute | null => {
    const url = req.url ?? '/'
    const byHost = routeHost(req.headers.host, options.publicHostSuffix, url)
    if (byHost !== null) return byHost
    if (url.startsWith('/pub/')) return routePub(url)
    if (url === '/pub' || url.startsWith('/pub?')) return { kind: 'bad-id' }
    return null
  }

  // Public requests being answered here, relayed ones included: a drain waits for them as for its agents' streams.
  let requestsInFlight = 0
  const handleRequest = (req: IncomingMessage, res: ServerResponse): void => {
    requestsInFlight++
    res.once('close', () => requestsInFlight--)
    if (draining) res.shouldKeepAlive = false
    const badTarget = settleRequestTarget(req)
    if (badTarget !== null) {
      res.shouldKeepAlive = false
      return sendPublicError(res, ErrorCode.BAD_REQUEST, newRequestId(), badTarget)
    }
    const route = routeOf(req)
    if (route !== null) {
      if (route.kind === 'redirect') {
        res.writeHead(308, { location: route.location, 'content-length': 0 })
        res.end()
        return
      }
      if (route.kind === 'bad-id') return sendPublicError(res, ErrorCode.UNKNOWN_TUNNEL, newRequestId())
      proxy.handle(req, res, route)
      return
    }
    if (dashboard.handleDashboard(req, res)) return
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    const path = q === -1 ? url : url.slice(0, q)
    if (path === '/healthz') return plain(res, 200, 'ok')
    if (path === '/metrics' && metrics !== undefined) return answerMetricsThrottled(req, res, metrics)
    if (path === '/readyz')
      return draining ? plain(res, 503, 'draining') : cluster.healthy() ? plain(res, 200, 'ready') : plain(res, 503, 'cluster store unreachable')
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

  // Security: a wrong metrics token counts against the same per-address back-off as the admin token.
  const answerMetricsThrottled = (req: IncomingMessage, res: ServerResponse, source: ServerMetrics): void => {
    const token = options.metricsToken
    if (token === undefined) return answerMetrics(req, res, source, token)
    const key = security.clientKey(req)
    const attempt = security.adminThrottle.begin(key)
    if (!attempt.ok) return sendPublicError(res, ErrorCode.AUTH_THROTTLED, newRequestId(), undefined, { 'retry-after': String(attempt.retryAfterSec) })
    // No token shown at all (a scraper not yet configured) is not a guess.
    const presented = req.headers.authorization !== undefined
    res.once('close', () =>
      presented || res.statusCode !== 401 ? security.adminThrottle.end(key, res.statusCode !== 401) : security.adminThrottle.cancel(key),
    )
    answerMetrics(req, res, source, token)
  }

  const internalError = (res: ServerResponse, error: unknown): void => {
    if (error instanceof ClusterError) {
      // The store did not answer: nothing was decided, the caller may retry (fail closed, never a guess).
      logger.error({ err: error.message, code: error.code }, 'tunnel store unavailable')
      if (!res.headersSent) return plain(res, 503, 'tunnel store unavailable; retry shortly', { 'retry-after': '2' })
      return void res.destroy()
    }
    logger.error({ err: error instanceof Error ? error.stack : String(error) }, 'internal error')
    if (!res.headersSent) plain(res, 500, 'internal error')
    else res.destroy()
  }

  // TCP visitors (`adit connect`): WebSockets to a tunnel's public URL that offer adit.tcp.v1.
  const tcpVisitors = new TcpVisitorAcceptor()
  const endpoint = new AgentEndpoint({
    credentials,
    store,
    logger,
    maxFrameBytes: options.maxFrameBytes,
    serviceTimeoutMs: options.serviceTimeoutMs,
    accepting: () => !draining,
    onAgent: (ws: WebSocket, tunnelId: string, req: IncomingMessage, record) => {
      const connection = new AgentConnection(ws, tunnelId, {
        logger,
        features: agentFeatures(req),
        heartbeatMs: options.heartbeatMs,
        maxJsonBodyBytes: options.maxJsonBodyBytes,
        onClose: (c) => {
          registry.remove(c)
          relay?.agentDisconnected(tunnelId)
          if (channels.serverAgent.hasSubscribers) channels.serverAgent.publish({ origin, event: 'disconnect', tunnelId: c.tunnelId, connection: c.number })
          store.touch(tunnelId, Date.now()).catch(() => {})
        },
      })
      registry.add(connection)
      relay?.agentConnected(tunnelId, record)
      if (channels.serverAgent.hasSubscribers) channels.serverAgent.publish({ origin, event: 'connect', tunnelId, connection: connection.number })
      store.touch(tunnelId, Date.now()).catch(() => {})
      // Security: read the tunnel's access rules now, so a store outage later finds them cached.
      security.guard.warm(tunnelId)
      logger.info({ tunnel: tunnelId, connection: connection.number, protocol: connection.protocol }, 'agent connected')
    },
  })

  const httpOptions: HttpServerOptions = {
    maxHeaderSize: options.maxHeaderBytes,
    headersTimeout: options.headersTimeoutMs,
    // Whole-request deadline off: uploads through a tunnel may be long; the
    // headers timeout and per-exchange timers guard against slow clients.
    requestTimeout: 0,
    keepAliveTimeout: options.keepAliveTimeoutMs,
    // Node checks the headers timeout only this often (30 s by default): check
    // often enough that a slow-header client is cut close to headersTimeout.
    connectionsCheckingInterval: Math.max(100, Math.min(30_000, Math.floor(options.headersTimeoutMs / 4))),
  }
  // With a certificate: node:https (HTTP/1.1, upgrades included) plus HTTP/2 for clients that pick `h2` by ALPN.
  const tlsServer =
    options.tls === undefined
      ? undefined
      : createHttpsServer({
          ...httpOptions,
          cert: options.tls.cert,
          key: options.tls.key,
          ALPNProtocols: ['h2', 'http/1.1'],
          // A client that never finishes its handshake is cut like one that never finishes its head.
          handshakeTimeout: options.headersTimeoutMs,
        })
  // node:https's Server is node:http's over TLS: the same requests, upgrades, limits and connection tracking.
  const server: Server = tlsServer === undefined ? createServer(httpOptions) : (tlsServer as unknown as Server)
  server.on('request', handleRequest)
  // Sockets that carried public requests (agents' upgraded sockets never do):
  // a drain waits for them to go before it lets the agents leave.
  const publicSockets = new Set<Duplex>()
  server.on('request', (req: IncomingMessage) => {
    const socket = req.socket
    if (publicSockets.has(socket)) return
    publicSockets.add(socket)
    socket.once('close', () => publicSockets.delete(socket))
  })
  // HTTP/2 on the same port, same handler: by ALPN over TLS; with --h2c, by prior knowledge in cleartext.
  const h2 =
    tlsServer !== undefined ? acceptH2OverTls(tlsServer, handleRequest) : options.h2c ? acceptH2c(server, handleRequest, options.headersTimeoutMs) : undefined
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {})
    const badTarget = settleRequestTarget(req)
    if (badTarget !== null) return sendPublicErrorOnSocket(socket, ErrorCode.BAD_REQUEST, newRequestId(), badTarget)
    const route = routeOf(req)
    if (route === null) {
      const url = req.url ?? '/'
      if (url === '/ws' || url.startsWith('/ws?')) {
        endpoint.handleUpgrade(req, socket, head).catch(() => reject(socket, 503, 'internal error'))
        return
      }
      return reject(socket, 404, 'not found')
    }
    const requestId = newRequestId()
    if (route.kind === 'bad-id') return sendPublicErrorOnSocket(socket, ErrorCode.UNKNOWN_TUNNEL, requestId)
    if (route.kind === 'redirect') return reject(socket, 404, `WebSocket URLs need the trailing slash: ${route.location}`)
    if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') return reject(socket, 501, 'only WebSocket upgrades pass through tunnels')
    proxy.handleUpgrade(req, socket, head, route, isTcpVisitor(req) ? tcpVisitors : undefined)
  })
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (!socket.writable) return socket.destroy()
    const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400
    const text = status === 431 ? 'request header fields too large' : status === 408 ? 'request timeout' : 'bad request'
    socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: text/plain\r\nContent-Length: ${text.length + 1}\r\nConnection: close\r\n\r\n${text}\n`)
  })

  await relay?.start()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  const displayHost = options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host.includes(':') ? `[${options.host}]` : options.host
  const url = `${tlsServer === undefined ? 'http' : 'https'}://${displayHost}:${port}`

  let closing: Promise<void> | undefined
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      draining = true
      // Stop listening only. http.Server#close would also cut idle keep-alive
      // sockets (Node ≥ 19), racing requests already on their way on them;
      // net.Server#close leaves them to get `Connection: close` answers.
      const closed = new Promise<void>((resolve) => NetServer.prototype.close.call(server, () => resolve()))
      // Idle keep-alive connections are not cut here: a request may be on
      // its way on one (the keep-alive race). Each gets its next answer with
      // `Connection: close` instead, so clients move on without an error.
      // Advisory GOAWAY: each agent opens its replacement elsewhere, but this
      // instance keeps using the old connection while public keep-alive
      // sockets are still here; only when they are gone does it answer the
      // agents' GOAWAY and stop opening streams. A busy socket gets its
      // `Connection: close` answer within milliseconds; one silent for a
      // second is taken for idle and closed with the rest.
      for (const connection of registry.connections()) connection.startDrain()
      const deadline = Date.now() + options.drainTimeoutMs
      // Public WebSocket sessions get most of the drain to end by themselves (a short one finishes); the
      // rest are then closed with a close frame 1001 at a frame boundary each way, so their clients
      // reconnect (to another instance) cleanly before anything is cut; one still open at the deadline is cut.
      const closeSessionsAt = deadline - Math.min(2000, Math.floor(options.drainTimeoutMs / 4))
      let sessionsClosing = false
      const closeSessionsWhenDue = (): void => {
        if (sessionsClosing || Date.now() < closeSessionsAt) return
        sessionsClosing = true
        proxy.goAwayUpgrades(Math.max(1, deadline - Date.now() - 50))
        // The sessions relayed here from other instances' public clients: their instances close them (bus latency allowed for).
        relay?.leaving(Math.max(1, deadline - Date.now() - 250))
      }
      const publicGone = Date.now() + Math.min(1000, options.drainTimeoutMs / 2)
      while (Date.now() < publicGone && publicSockets.size > 0) await new Promise((r) => setTimeout(r, 25))
      for (const connection of registry.connections()) connection.finishDrain()
      // Requests in flight count whether their agent is here or on another instance (relayed): an
      // instance with no agent connection of its own would otherwise cut them a second after SIGTERM.
      // Relay streams too: one serving another instance's client may still hold the tail of a response
      // after this instance's agent sent it all and closed its drained connection.
      const settled = (): boolean =>
        requestsInFlight === 0 &&
        proxy.openUpgrades === 0 &&
        (relay?.activeStreams ?? 0) === 0 &&
        [...registry.connections()].every((c) => c.session.goingAway && c.session.activeStreams === 0)
      while (Date.now() < deadline && !settled()) {
        closeSessionsWhenDue()
        await new Promise((r) => setTimeout(r, 25))
      }
      for (const connection of registry.connections()) connection.close()
      endpoint.close()
      tcpVisitors.close()
      security.close()
      h2?.close()
      server.closeIdleConnections()
      const forceAt = setTimeout(() => server.closeAllConnections(), 1000)
      await closed
      clearTimeout(forceAt)
      await relay?.close()
      if (ownCluster) await cluster.close().catch(() => {})
      metrics?.close()
      unsubscribeAccessLog()
      unsubscribeDashboard()
    })())

  const setTls = (identity: TlsIdentity): void => {
    if (tlsServer === undefined) throw new ConfigError('this server was started without TLS: a certificate cannot be set now')
    checkTlsIdentity(identity)
    tlsServer.setSecureContext({ cert: identity.cert, key: identity.key })
  }

  return { url, port, registry, cluster, relay, metrics, setTls, close }
}

function plain(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  const body = `${text}\n`
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), ...headers })
  res.end(body)
}

/** The port of a Host header value (`example.com:8080` → `8080`, `[::1]:80` → `80`); '' when it has none. */
function portOfHost(host: string): string {
  const match = /:(\d{1,5})$/.exec(host)
  return match === null ? '' : match[1]!
}
