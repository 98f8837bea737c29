import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { randomBytes } from 'node:crypto'
import type { StreamOpener } from '../protocol/index.js'
import type { TunnelRecord, TunnelStore } from '../cluster/types.js'
import { ErrorCode, type PublicErrorCode } from '../errors.js'
import { ClusterError } from '../cluster/errors.js'
import type { Logger } from '../observability/logger.js'
import type { Credentials } from './credentials.js'
import { requestHeadersFor, type ForwardingContext } from './forwarded-headers.js'
import type { ExchangeSummary } from '../exchange/summary.js'
import { ProxyExchange } from './proxy-exchange.js'
import type { TunnelRegistry } from './tunnel-registry.js'
import { UpgradeExchange } from './upgrade-exchange.js'
import { observeExchange } from '../observability/exchange-trace.js'
import type { Admission } from './security/tunnel-guard.js'
import { firstHeaderValue } from '../http/header-value.js'
import { clientIpFor } from './security/client-ip.js'
import type { TcpVisitorAcceptor } from './tcp-visitor.js'
import { verifyVisitorToken } from './security/tunnel-secret.js'
import { VISITOR_TOKEN_HEADER } from '../exchange/visitor-token.js'
import type { AccessGate } from './security/access-rules.js'

/** Security hook (src/server/security): rate, access rules and stream cap, checked before any stream opens. */
export interface PublicGuard {
  admit(tunnelId: string, req: IncomingMessage, path?: string): Promise<Admission>
  /** Frees the stream slot of an admitted request once its exchange is done. */
  release(tunnelId: string): void
}

export interface PublicProxyOptions {
  registry: TunnelRegistry
  store: TunnelStore
  credentials: Credentials
  logger: Logger
  responseTimeoutMs: number
  /** How long a request waits for a reconnecting agent before 503. */
  holdTimeoutMs: number
  /** A tunnel counts as "reconnecting" this long after its agent was last here. */
  holdWindowMs: number
  trustProxy: boolean
  /** True while the server drains: responses ask clients to reconnect (to another instance). */
  draining(): boolean
  /**
   * Cluster hook: an opener that carries streams to another instance holding
   * the tunnel's agent, or undefined. Tried when no local connection exists.
   */
  remoteOpener?: (tunnelId: string) => Promise<StreamOpener | undefined>
  /** With a remoteOpener: how often a held request looks for the agent on other instances (ms). */
  holdPollMs?: number
  /** Cluster hook: true when another instance held the tunnel's agent within `windowMs` (it died or the agent is moving). */
  recentlyHeldElsewhere?: (tunnelId: string, windowMs: number) => boolean
  /**
   * Cluster hook: true while the shared store is out or has just come back
   * (a Redis restart): a request for a real tunnel then waits (up to
   * holdTimeoutMs) until its record reads back, instead of 503 or 404.
   */
  storeUnsettled?: () => boolean
  /** Cluster hook: the store and the bus (its subscriber included) answer now. A request that waited for the store goes on only then. */
  clusterHealthy?: () => boolean
  onExchange(summary: ExchangeSummary): void
  /** Security checks; without it every request goes through. */
  guard?: PublicGuard
}

export interface TunnelTarget {
  id: string
  prefix: string
  path: string
}

type Resolution = { opener: StreamOpener } | { error: PublicErrorCode; detail?: string; headers?: Record<string, string>; rule?: string }

const startedAt = Date.now()

// Request ids need to be unique, not secret: a random per-process prefix and
// a counter (randomBytes per request cost ~4% of the server's CPU).
const requestIdPrefix = randomBytes(6).toString('base64url')
let requestCounter = 0
export function newRequestId(): string {
  return `${requestIdPrefix}${(requestCounter++).toString(36)}`
}

/**
 * Public traffic into tunnels: finds where a tunnel's agent is (a local
 * connection, another instance, or — while it reconnects — soon), opens a
 * stream there and hands the exchange to it. Used for plain requests and
 * for WebSocket upgrades alike.
 */
export class PublicProxy {
  private readonly options: PublicProxyOptions
  private readonly upgrades = new Set<UpgradeExchange>()
  /** Exchanges that already waited once for the store to come back (waitForStore). */
  private readonly waitedForStore = new WeakSet<ProxyExchange | UpgradeExchange>()
  /** Set once the server drains: how long a WebSocket session has to close. */
  private leavingTimeoutMs: number | undefined

  constructor(options: PublicProxyOptions) {
    this.options = options
  }

  publicProto(req: IncomingMessage): string {
    return (
      (this.options.trustProxy ? firstHeaderValue(req.headers['x-forwarded-proto']) : undefined) ??
      ((req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http')
    )
  }

  publicHost(req: IncomingMessage): string {
    return (this.options.trustProxy ? firstHeaderValue(req.headers['x-forwarded-host']) : undefined) ?? req.headers.host ?? 'localhost'
  }

  /** A plain request (any method) for `target`. */
  handle(req: IncomingMessage, res: ServerResponse, target: TunnelTarget): void {
    const requestId = newRequestId()
    if (this.options.draining()) res.shouldKeepAlive = false
    const hasBody = requestHasBody(req)
    const forwarding = this.forwarding(req, target, requestId)
    const headers = requestHeadersFor(req, forwarding, false)
    // Trace context into `headers`, a span, and adit:server:exchange when done.
    const slot = new StreamSlot(this.options.guard, target.id)
    const onDone = this.guarded(slot, observeExchange(req, headers, this.observed(req, target, forwarding), this.options.onExchange))
    const exchange = new ProxyExchange(
      req,
      res,
      {
        requestId,
        tunnelId: target.id,
        path: target.path,
        prefix: target.prefix,
        head: { method: req.method ?? 'GET', path: target.path, headers, requestId, ...(hasBody ? {} : { bodyless: true }) },
        responseTimeoutMs: this.options.responseTimeoutMs,
        origin: this.options.registry,
      },
      { onDone, redispatch: (e) => this.dispatch(e) },
    )
    // Security: a denial is answered here and never reaches the agent.
    if (this.options.guard === undefined && this.options.storeUnsettled === undefined) return this.dispatch(exchange)
    const guard = this.options.guard
    this.storeSettled(exchange)
      .then((): Promise<Admission> => (guard === undefined ? Promise.resolve({ ok: true, gate: null }) : guard.admit(target.id, req, target.path)))
      .then(
        (admission) => {
          if (admission.ok) slot.held = true
          if (exchange.finished) return slot.free()
          if (!admission.ok) {
            if (admission.denial.rule !== undefined) exchange.summary.answeredBy = admission.denial.rule
            return exchange.fail(admission.denial.code, undefined, admission.denial.headers)
          }
          if (admission.gate?.consumesAuthorization) stripHeader(exchange.head.headers, 'authorization')
          this.dispatch(exchange)
        },
        (error: unknown) => {
          this.options.logger.error({ err: (error as Error).message, tunnel: target.id }, 'tunnel access rules unavailable')
          exchange.fail(ErrorCode.AGENT_RECONNECTING, 'tunnel store unavailable', { 'retry-after': '2' })
        },
      )
  }

  /**
   * While the shared store is out or just came back (a Redis restart), waits
   * — polling every holdPollMs, at most holdTimeoutMs — until the record of
   * tunnel `id` reads back: the instance holding its agent writes it back and
   * announces it again within moments. Only for ids that carry this server's
   * MAC (a guessed id never waits), and never when the store is settled (no
   * extra read then). Resolves in every case; what follows answers as before.
   */
  private async storeSettled(exchange: ProxyExchange | UpgradeExchange): Promise<void> {
    const id = exchange.summary.tunnelId
    const unsettled = this.options.storeUnsettled
    if (unsettled === undefined || !unsettled() || !this.options.credentials.isSignedId(id)) return
    // One wait per exchange: a lookup that fails after it answers 503 at once (waitForStore).
    this.waitedForStore.add(exchange)
    const gaveUp = (): boolean => exchange.finished
    const deadline = Date.now() + this.options.holdTimeoutMs
    const step = this.options.holdPollMs ?? 250
    while (!gaveUp() && Date.now() < deadline) {
      const found = await this.options.store.get(id).then(
        (record) => record !== null,
        () => false,
      )
      // Found, and this instance's bus subscriber is back too: a stream opened before it is would lose its answer.
      if ((found && this.options.clusterHealthy?.() !== false) || !unsettled()) return
      await new Promise((resolve) => setTimeout(resolve, Math.max(1, Math.min(step, deadline - Date.now()))))
    }
  }

  /**
   * A lookup failed because the store is out (a relayed stream lost with the
   * bus, retried, or a lookup just as Redis went): wait for the store as a new
   * request would, then `again` — once per exchange. False when that does not
   * apply and the caller answers 503.
   */
  private waitForStore(exchange: ProxyExchange | UpgradeExchange, error: unknown, again: () => void): boolean {
    if (!(error instanceof ClusterError) || this.options.storeUnsettled?.() !== true || this.waitedForStore.has(exchange)) return false
    this.waitedForStore.add(exchange)
    void this.storeSettled(exchange).then(() => {
      if (!exchange.finished) again()
    })
    return true
  }

  /** Wraps an exchange's onDone: frees the admitted request's stream slot first. */
  private guarded(slot: StreamSlot, onDone: (summary: ExchangeSummary) => void): (summary: ExchangeSummary) => void {
    if (this.options.guard === undefined) return onDone
    return (summary) => {
      slot.free()
      onDone(summary)
    }
  }

  /**
   * A public `Upgrade` request (WebSocket) for `target`. With `tcp`, a TCP
   * visitor's (`adit connect`): besides the tunnel's access rules it needs a
   * visitor credential (fail closed, see SECURITY.md), and its stream is a
   * TCP stream (OPEN `tcp`) that pipes to the bytes inside its WebSocket.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, early: Buffer, target: TunnelTarget, tcp?: TcpVisitorAcceptor): void {
    const requestId = newRequestId()
    const forwarding = this.forwarding(req, target, requestId)
    const headers = requestHeadersFor(req, forwarding, true)
    const slot = new StreamSlot(this.options.guard, target.id)
    const observed = this.guarded(slot, observeExchange(req, headers, this.observed(req, target, forwarding), this.options.onExchange))
    const onDone = (summary: ExchangeSummary): void => {
      this.upgrades.delete(exchange)
      observed(summary)
    }
    const exchange = new UpgradeExchange(
      socket,
      early,
      {
        requestId,
        tunnelId: target.id,
        path: target.path,
        prefix: target.prefix,
        responseTimeoutMs: this.options.responseTimeoutMs,
        ...(tcp === undefined ? {} : { accept: () => tcp.accept(req, socket, early, requestId) }),
        head: {
          method: req.method ?? 'GET',
          path: target.path,
          headers,
          requestId,
          upgrade: true,
          ...(tcp === undefined ? {} : { tcp: true }),
          bodyless: true,
        },
      },
      { onDone, redispatch: (e) => this.dispatchUpgrade(e) },
    )
    this.upgrades.add(exchange)
    if (this.leavingTimeoutMs !== undefined) exchange.goAway(this.leavingTimeoutMs)
    const problem = tcp?.handshakeProblem(req) ?? null
    if (problem !== null) return exchange.fail(ErrorCode.BAD_REQUEST, problem)
    // Security: WebSocket upgrades pass the same checks as plain requests.
    const guard = this.options.guard
    const admission: Promise<Admission> = this.storeSettled(exchange).then(() =>
      guard === undefined ? { ok: true, gate: null } : guard.admit(target.id, req, target.path),
    )
    admission
      .then(async (verdict): Promise<Resolution> => {
        if (verdict.ok && guard !== undefined && !exchange.finished) slot.held = true
        if (!verdict.ok)
          return {
            error: verdict.denial.code,
            ...(verdict.denial.headers ? { headers: verdict.denial.headers } : {}),
            ...(verdict.denial.rule !== undefined ? { rule: verdict.denial.rule } : {}),
          }
        if (tcp !== undefined) {
          const refusal = await this.visitorRefusal(target.id, req, verdict.gate)
          if (refusal !== null) return { error: ErrorCode.VISITOR_CREDENTIAL, detail: refusal }
          stripHeader(headers, VISITOR_TOKEN_HEADER)
        }
        if (verdict.gate?.consumesAuthorization) stripHeader(headers, 'authorization')
        return this.resolve(target.id)
      })
      .then(
        (resolution) => {
          if (exchange.finished) return slot.free()
          if ('error' in resolution) {
            if (resolution.rule !== undefined) exchange.summary.answeredBy = resolution.rule
            return exchange.fail(resolution.error, resolution.detail, resolution.headers)
          }
          this.openUpgrade(exchange, resolution.opener)
        },
        (error: unknown) => {
          this.options.logger.error({ err: (error as Error).message, tunnel: target.id }, 'tunnel lookup failed')
          exchange.fail(ErrorCode.AGENT_RECONNECTING, 'tunnel store unavailable', { 'retry-after': '2' })
        },
      )
  }

  /** Upgrades in progress or upgraded, on this instance's public sockets. */
  get openUpgrades(): number {
    return this.upgrades.size
  }

  /**
   * Draining: every public WebSocket session here, and every one upgraded
   * from now on, is closed with 1001 at a frame boundary; what is not closed
   * within `timeoutMs` is cut.
   */
  goAwayUpgrades(timeoutMs: number): void {
    this.leavingTimeoutMs = timeoutMs
    for (const exchange of this.upgrades) exchange.goAway(timeoutMs)
  }

  /**
   * The sessions whose streams ride `opener`s that `through` names (a relay to an instance that
   * drains) are closed with 1001 at a frame boundary, as at this server's own drain.
   */
  goAwayUpgradesThrough(through: (opener: StreamOpener) => boolean, timeoutMs: number): void {
    for (const exchange of this.upgrades) if (exchange.opener !== null && through(exchange.opener)) exchange.goAway(timeoutMs)
  }

  private openUpgrade(exchange: UpgradeExchange, opener: StreamOpener): void {
    const stream = opener.openStream(exchange.head, exchange)
    if (stream === null) {
      // The connection started going away between pick and open: look again.
      return exchange.summary.retries++ < 3 ? this.dispatchUpgrade(exchange) : exchange.fail(ErrorCode.AGENT_NOT_CONNECTED, 'agent connection is going away')
    }
    exchange.opener = opener
    exchange.attach(stream)
  }

  /** Finds the tunnel's agent again for an upgrade refused before its 101 (or whose connection went away first). */
  private dispatchUpgrade(exchange: UpgradeExchange): void {
    this.resolve(exchange.summary.tunnelId).then(
      (resolution) => {
        if (exchange.finished) return
        if ('error' in resolution) return exchange.fail(resolution.error, resolution.detail, resolution.headers)
        this.openUpgrade(exchange, resolution.opener)
      },
      (error: unknown) => {
        if (this.waitForStore(exchange, error, () => this.dispatchUpgrade(exchange))) return
        this.options.logger.error({ err: (error as Error).message, tunnel: exchange.summary.tunnelId }, 'tunnel lookup failed')
        exchange.fail(ErrorCode.AGENT_RECONNECTING, 'tunnel store unavailable', { 'retry-after': '2' })
      },
    )
  }

  /**
   * Why a TCP visitor is refused, or null. A TCP service has no login page of
   * its own to fall back on, so a TCP tunnel is never open to anyone: the
   * visitor shows the token derived from the tunnel's secret, or passed a
   * basic-auth or JWT rule of the tunnel (its owner chose that credential).
   */
  private async visitorRefusal(id: string, req: IncomingMessage, gate: AccessGate | null): Promise<string | null> {
    const token = firstHeaderValue(req.headers[VISITOR_TOKEN_HEADER])
    if (token !== undefined && token !== '') {
      const record = await this.options.store.get(id)
      if (verifyVisitorToken(this.options.credentials, id, token, record, Date.now())) return null
      return 'wrong visitor token: the tunnel secret may have been rotated since; ask its owner for the current one'
    }
    if (gate?.authenticates === true) return null
    return 'no visitor token'
  }

  /** What the exchange's observers see; proto, host and address come from the forwarding context already computed. */
  private observed(req: IncomingMessage, target: TunnelTarget, forwarding: ForwardingContext) {
    return {
      origin: this.options.registry,
      tunnelId: target.id,
      path: target.path,
      url: `${forwarding.proto}://${forwarding.host}${req.url ?? '/'}`,
      remoteIp: forwarding.clientIp,
    }
  }

  private forwarding(req: IncomingMessage, target: TunnelTarget, requestId: string): ForwardingContext {
    return {
      clientIp: clientIpFor(req, false),
      proto: this.publicProto(req),
      host: this.publicHost(req),
      prefix: target.prefix,
      requestId,
      trustProxy: this.options.trustProxy,
    }
  }

  private dispatch(exchange: ProxyExchange): void {
    this.resolve(exchange.summary.tunnelId).then(
      (resolution) => {
        if (exchange.finished) return
        if ('error' in resolution) return exchange.fail(resolution.error, undefined, resolution.headers)
        const stream = resolution.opener.openStream(exchange.head, exchange)
        if (stream === null) {
          // The connection started going away between pick and open: look again.
          return exchange.summary.retries++ < 3 ? this.dispatch(exchange) : exchange.fail(ErrorCode.AGENT_NOT_CONNECTED, 'agent connection is going away')
        }
        exchange.attach(stream, resolution.opener.continueTimeoutMs)
      },
      (error: unknown) => {
        if (this.waitForStore(exchange, error, () => this.dispatch(exchange))) return
        this.options.logger.error({ err: (error as Error).message, tunnel: exchange.summary.tunnelId }, 'tunnel lookup failed')
        exchange.fail(ErrorCode.AGENT_RECONNECTING, 'tunnel store unavailable', { 'retry-after': '2' })
      },
    )
  }

  /**
   * Where to open a stream for tunnel `id`: a local connection; else another
   * instance (cluster); else, when the agent was just here (or this instance
   * just started and the tunnel is real), wait up to holdTimeoutMs for it.
   */
  async resolve(id: string): Promise<Resolution> {
    const { registry, store } = this.options
    const local = registry.get(id)?.pick()
    if (local !== undefined) return { opener: local.session }
    const remote = await this.options.remoteOpener?.(id)
    if (remote !== undefined) return { opener: remote }
    // Security: a revoked tunnel says so (410) instead of waiting for an agent that will not come.
    // Fail closed: a store that does not answer rejects (503 + Retry-After), never "not revoked".
    if (await store.isRevoked(id)) return { error: ErrorCode.TUNNEL_REVOKED }
    const record = await store.get(id)
    if (record === null) return { error: ErrorCode.UNKNOWN_TUNNEL }
    if (!this.shouldHold(id, record)) return { error: ErrorCode.AGENT_NOT_CONNECTED }
    const held = await this.hold(id)
    if (held !== undefined) return { opener: held }
    // Revoked while it waited (the wait ends at once then): 410, as for a request that came after.
    if (await store.isRevoked(id)) return { error: ErrorCode.TUNNEL_REVOKED }
    return { error: ErrorCode.AGENT_RECONNECTING, headers: { 'retry-after': '2' } }
  }

  /**
   * Waits up to holdTimeoutMs for the agent: here (woken at once when it
   * connects) or, in a cluster, on another instance (looked up every
   * holdPollMs — a reconnecting agent may land anywhere behind the balancer).
   */
  private async hold(id: string): Promise<StreamOpener | undefined> {
    const { registry, remoteOpener, holdTimeoutMs } = this.options
    if (remoteOpener === undefined) return (await registry.waitForConnection(id, holdTimeoutMs))?.session
    const deadline = Date.now() + holdTimeoutMs
    const step = this.options.holdPollMs ?? 250
    for (;;) {
      const connection = await registry.waitForConnection(id, Math.max(1, Math.min(step, deadline - Date.now())))
      if (connection !== undefined) return connection.session
      const remote = await remoteOpener(id)
      if (remote !== undefined || Date.now() >= deadline) return remote
      // Revoked on another instance: nobody is coming (resolve answers 410).
      if (await this.options.store.isRevoked(id)) return undefined
    }
  }

  private shouldHold(id: string, record: TunnelRecord): boolean {
    const { registry, holdWindowMs } = this.options
    if (registry.get(id) !== undefined) return true // only draining connections left: their replacement is coming
    if (registry.recentlyConnected(id, holdWindowMs)) return true
    if (this.options.recentlyHeldElsewhere?.(id, holdWindowMs) === true) return true
    const everConnected = record.lastSeenAt > record.createdAt
    if (everConnected && Date.now() - record.lastSeenAt <= holdWindowMs) return true
    // A fresh instance (a restart, a new replica) has not met its agents yet.
    return Date.now() - startedAt <= holdWindowMs && everConnected
  }
}

/**
 * Whether a request has a body to stream. HTTP/1.1 says so in its head
 * (Transfer-Encoding, or a Content-Length above 0); HTTP/2 frames a body with
 * DATA frames and needs no length (gRPC clients send none), so only
 * END_STREAM on its HEADERS says there is none.
 */
function requestHasBody(req: IncomingMessage): boolean {
  const h2 = (req as { stream?: { endAfterHeaders?: unknown } }).stream
  if (h2 !== undefined && typeof h2.endAfterHeaders === 'boolean') return !h2.endAfterHeaders
  return req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0')
}

/** Removes a header in place (lowercase `name`): tunnel-level credentials are the server's, not the service's. */
function stripHeader(headers: Array<[string, string]>, name: string): void {
  for (let i = headers.length - 1; i >= 0; i--) if (headers[i]![0].toLowerCase() === name) headers.splice(i, 1)
}

/** The stream slot one public request holds in the guard; freed once, whoever frees it first. */
class StreamSlot {
  held = false
  constructor(
    private readonly guard: PublicGuard | undefined,
    private readonly tunnelId: string,
  ) {}

  free(): void {
    if (!this.held) return
    this.held = false
    this.guard?.release(this.tunnelId)
  }
}
