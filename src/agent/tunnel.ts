import { EventEmitter } from 'node:events'
import { AditError, ErrorCode } from '../errors.js'
import { createLogger, type Logger } from '../observability/logger.js'
import { GoAwayCode } from '../protocol/index.js'
import { Backoff } from './backoff.js'
import { resolveAgentOptions, type AgentOptions } from './config.js'
import type { ExchangeEnd, ExchangeObserver, ExchangeStart } from './exchange-observer.js'
import { replayThroughForwarder, type AgentReplayRequest, type AgentReplayResult, type ForwardedReplayOptions } from './forwarded-replay.js'
import { LocalForwarder } from './local-forwarder.js'
import { TcpForwarder } from './tcp-forwarder.js'
import { visitorTokenFor } from '../exchange/visitor-token.js'
import { register, RegistrationError } from './registration.js'
import { ServerConnection, type ConnectionCloseInfo } from './server-connection.js'
import { nextDelay, verdictFor, waitMessage, type AttemptFailure, type WaitReason, type WaitState } from './wait.js'
import { loadState, saveState, watchStateFile, type AgentState } from './state-file.js'
import { channels } from '../observability/channels.js'

export interface TunnelEvents {
  /** A forwarded request finished. */
  request: [ExchangeEnd & { method: string; path: string }]
  /** A connection to the server opened (`connected`) or was lost (`disconnected`). */
  status: [{ state: 'connected' | 'disconnected'; connections: number; reason?: string }]
  /** The server rejected the saved credentials and a new tunnel (new URL) was registered. */
  reregistered: [AgentState]
  /**
   * The agent cannot reach the server, or the server asked it to wait (429,
   * 5xx): emitted once per change of reason, not per attempt; the next
   * `connected` status ends it. Credentials refused is never a wait: it is
   * an `error` (or `start()` rejects), and final.
   */
  waiting: [WaitState]
  /** The state file got a new secret (`adit tunnels rotate`); connections are being replaced with it. */
  rotated: [AgentState]
  /** Final: the tunnel closed itself (revoked, credentials refused). */
  error: [Error]
}

/** One place in the connection pool: the connection in use and, while it is being replaced, the next. */
interface Slot {
  current: ServerConnection | undefined
  next: ServerConnection | undefined
  backoff: Backoff
}

/**
 * A running tunnel: registration (or saved credentials), a pool of
 * connections to the server that reconnect with backoff, and the forwarder
 * to the local service.
 */
export class Tunnel extends EventEmitter<TunnelEvents> {
  private registered: AgentState | undefined
  private readonly options: ReturnType<typeof resolveAgentOptions>
  private readonly logger: Logger
  private readonly forwarder: LocalForwarder | TcpForwarder
  private readonly slots: Slot[]
  private readonly draining = new Set<ServerConnection>()
  private readonly timers = new Set<NodeJS.Timeout>()
  private closed = false
  private firstOpen: { resolve: () => void; reject: (e: Error) => void } | undefined
  private reregistering: Promise<void> | undefined
  /** Why the agent waits for the server right now, if it does (one message per change). */
  private waitingFor: WaitReason | undefined
  /** Aborted by close(): ends a registration in flight and any wait before a retry. */
  private readonly stopping = new AbortController()
  private unwatch: (() => void) | undefined

  /** `state`: saved credentials to use; without them, start() registers a new tunnel. */
  constructor(options: ReturnType<typeof resolveAgentOptions>, state: AgentState | undefined, logger: Logger) {
    super()
    this.options = options
    this.registered = state
    this.logger = logger
    this.forwarder =
      options.tcpTarget !== undefined
        ? new TcpForwarder({ target: options.tcpTarget, observer: this.observerFor(options.observer), tunnelId: () => this.id })
        : new LocalForwarder({
            routes: options.routeTable,
            hostHeader: options.hostHeader,
            connections: options.localConnections,
            observer: this.observerFor(options.observer),
            tunnelId: () => this.id,
          })
    this.slots = Array.from({ length: options.connections }, () => ({
      current: undefined,
      next: undefined,
      backoff: new Backoff(options.reconnectBaseMs, options.reconnectMaxMs),
    }))
  }

  /** The credentials in use; throws before start() has registered. */
  get state(): AgentState {
    if (this.registered === undefined) throw new AditError(ErrorCode.REGISTRATION, 0, 'the tunnel is not registered yet: await start() first')
    return this.registered
  }

  get id(): string {
    return this.registered?.id ?? ''
  }

  get publicUrl(): string {
    return this.registered?.public_url ?? ''
  }

  /**
   * A TCP tunnel's visitor token (`adit connect --token`), derived from the
   * current secret: it changes when the secret is rotated. Undefined for an
   * HTTP tunnel or before start().
   */
  get visitorToken(): string | undefined {
    if (this.options.tcpTarget === undefined || this.registered === undefined) return undefined
    return visitorTokenFor(this.registered.id, this.registered.secret)
  }

  /** Connections currently open to the server (replacements included). */
  get connectedCount(): number {
    let n = 0
    for (const slot of this.slots) {
      if (slot.current?.opened) n++
      if (slot.next?.opened) n++
    }
    return n
  }

  /**
   * Registers when it has no saved credentials (waiting for the server as
   * long as it takes, unless `waitForServer` is off), opens every
   * connection, and resolves once the first is up. Rejects on a final
   * refusal (credentials, a taken name) or when closed first.
   */
  async start(): Promise<void> {
    if (this.registered === undefined) {
      const state = await this.registerUntilAccepted()
      this.registered = state
      if (this.options.stateFile !== null) await saveState(this.options.stateFile, state)
    }
    if (this.closed) throw new AditError(ErrorCode.SHUTTING_DOWN, 503, 'the tunnel was closed before it connected')
    if (this.options.stateFile !== null) {
      const path = this.options.stateFile
      this.unwatch = watchStateFile(path, () => void this.reloadState(path))
    }
    return new Promise((resolve, reject) => {
      this.firstOpen = { resolve, reject }
      for (const slot of this.slots) this.open(slot)
    })
  }

  /** POST /register until the server accepts (back-off, Retry-After) or refuses for good. */
  private async registerUntilAccepted(): Promise<AgentState> {
    const backoff = new Backoff(this.options.reconnectBaseMs, this.options.reconnectMaxMs)
    const { serverUrl, apiKey, name, access } = this.options
    for (;;) {
      try {
        const state = await register(serverUrl, apiKey, name, access, this.stopping.signal)
        this.waitingFor = undefined
        return state
      } catch (error) {
        if (this.closed) throw new AditError(ErrorCode.SHUTTING_DOWN, 503, 'the tunnel was closed before it registered', { cause: error })
        if (!(error instanceof RegistrationError) || !this.options.waitForServer) throw error
        const delay = this.waitBeforeRetry(error.failure, backoff)
        if (delay === undefined) throw error
        await new Promise<void>((resolve) => this.schedule(resolve, delay, true))
      }
    }
  }

  /**
   * After a failed attempt: the delay before the next one, or undefined when
   * retrying cannot help. Says what the agent waits for when that changes.
   */
  private waitBeforeRetry(failure: AttemptFailure, backoff: Backoff): number | undefined {
    const verdict = verdictFor(failure)
    if (!verdict.retry) return undefined
    const delay = nextDelay(backoff.next(), verdict.minDelayMs)
    if (this.waitingFor !== verdict.reason) {
      this.waitingFor = verdict.reason
      const message = waitMessage(this.options.serverUrl.origin, failure, verdict.reason, delay)
      this.logger.debug({ reason: verdict.reason, retryInMs: delay }, message)
      this.emit('waiting', { reason: verdict.reason, message, retryInMs: delay })
    } else {
      this.logger.debug({ reason: verdict.reason, retryInMs: delay, detail: failure.detail }, 'still waiting for the server')
    }
    return delay
  }

  /**
   * Closes the tunnel. With `graceMs`, first tells the server to send no new
   * streams (GOAWAY on every connection) and lets streams in flight finish
   * for up to that long; then closes every connection and the local pool.
   */
  async close(graceMs = 0): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.stopping.abort()
    this.unwatch?.()
    for (const timer of this.timers) clearTimeout(timer)
    this.timers.clear()
    const first = this.firstOpen
    this.firstOpen = undefined
    first?.reject(new AditError(ErrorCode.SHUTTING_DOWN, 503, 'the tunnel was closed before it connected'))
    const connections = [...this.draining]
    for (const slot of this.slots) {
      if (slot.current) connections.push(slot.current)
      if (slot.next) connections.push(slot.next)
    }
    if (graceMs > 0) {
      for (const c of connections) if (c.opened) c.drain()
      const deadline = Date.now() + graceMs
      while (Date.now() < deadline && connections.some((c) => c.opened && c.activeStreams > 0)) await new Promise((r) => setTimeout(r, 25))
    }
    for (const c of connections) c.close(1000, 'agent closing')
    await this.forwarder.close().catch(() => {})
  }

  /**
   * Sends `request` to the local service again through this tunnel's
   * forwarder: same target, Host policy and pool, and reported to the
   * observer (and as a `request` event) like any forwarded request. The
   * result's `exchangeId` is the id the observer saw. This is the inspector's
   * replay with `replayIsObserved: true`.
   *
   * @example
   * const again = await tunnel.replay({ method: 'GET', path: '/health', headers: [], body: Buffer.alloc(0) })
   * console.log(again.status)
   */
  replay(request: AgentReplayRequest, options?: Partial<ForwardedReplayOptions>): Promise<AgentReplayResult> {
    if (this.closed) return Promise.reject(new AditError(ErrorCode.SHUTTING_DOWN, 503, 'the tunnel is closed; replay needs a running tunnel'))
    if (this.forwarder instanceof TcpForwarder) return Promise.reject(new AditError(ErrorCode.BAD_REQUEST, 400, 'a TCP tunnel has no HTTP requests to replay'))
    return replayThroughForwarder(this.forwarder, request, options)
  }

  /**
   * Replaces every connection, make before break (what --max-connection-age
   * does on a timer): new ones open first, old ones drain, then close.
   */
  rotate(): void {
    for (const slot of this.slots) this.replace(slot)
  }

  private wsUrl(): string {
    const url = new URL('/ws', this.options.serverUrl)
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:'
    url.searchParams.set('id', this.state.id)
    return url.toString()
  }

  /** Opens a connection for `slot`: its first, a reconnect, or a replacement (`next`). */
  private open(slot: Slot): void {
    if (this.closed) return
    const connection = new ServerConnection({
      url: this.wsUrl(),
      secret: this.state.secret,
      forwarder: this.forwarder,
      maxFrameBytes: this.options.maxFrameBytes,
      logger: this.logger,
      silenceTimeoutMs: 75_000,
      onOpen: (c) => this.onOpen(slot, c),
      onGoAway: (c, code) => this.onGoAway(slot, c, code),
      onClose: (c, info) => this.onClose(slot, c, info),
    })
    if (slot.current === undefined) slot.current = connection
    else slot.next = connection
  }

  private onOpen(slot: Slot, connection: ServerConnection): void {
    slot.backoff.reset()
    this.waitingFor = undefined
    if (slot.next === connection) {
      // The replacement is up: only now does the old connection stop taking streams.
      const old = slot.current
      slot.current = connection
      slot.next = undefined
      if (old !== undefined) this.drain(old)
    }
    this.logger.info({ connection: connection.number, tunnel: this.state.id }, 'connected to server')
    this.emit('status', { state: 'connected', connections: this.connectedCount })
    const maxAge = connectionAge(this.options.maxConnectionAgeMs, connection.serviceTimeoutMs)
    if (maxAge > 0) {
      // Jitter ±10% so the connections of a pool (and of a fleet) do not roll together.
      const age = maxAge * (0.9 + Math.random() * 0.2)
      this.schedule(() => {
        if (slot.current === connection && slot.next === undefined) this.replace(slot)
      }, age)
    }
    const first = this.firstOpen
    this.firstOpen = undefined
    first?.resolve()
    // Online: the local pools are made now, after whoever awaited start() (the `forwarding` line) had its turn.
    if (first !== undefined && this.forwarder instanceof LocalForwarder) {
      const forwarder = this.forwarder
      setImmediate(() => forwarder.warm())
    }
  }

  /**
   * The state file changed. A new secret for the same tunnel (`adit tunnels
   * rotate` wrote it) is taken up without a drop: every connection is
   * replaced, make before break, while the server still accepts the old
   * secret (its --rotation-grace). Anything else in the file is left alone.
   */
  private async reloadState(path: string): Promise<void> {
    if (this.closed || this.registered === undefined) return
    let saved: AgentState | null
    try {
      saved = await loadState(path, this.options.serverUrl.origin)
    } catch (error) {
      this.logger.warn({ err: (error as Error).message }, 'state file changed but cannot be read; keeping the credentials in use')
      return
    }
    const current = this.registered
    if (saved === null || saved.id !== current.id || saved.secret === current.secret) return
    this.registered = { ...current, secret: saved.secret, public_url: saved.public_url }
    this.logger.info({ tunnel: current.id }, 'new tunnel secret in the state file; replacing connections (make before break)')
    this.emit('rotated', this.registered)
    this.rotate()
  }

  /** Make before break: open the replacement now; the old connection drains once it is up. */
  private replace(slot: Slot): void {
    if (this.closed || slot.next !== undefined) return
    this.open(slot)
  }

  private drain(connection: ServerConnection): void {
    this.draining.add(connection)
    connection.drain()
    const deadline = Date.now() + this.options.drainTimeoutMs
    const check = (): void => {
      if (!this.draining.has(connection)) return
      if ((connection.serverGoAway && connection.activeStreams === 0) || Date.now() > deadline || this.closed) {
        this.draining.delete(connection)
        connection.close(1000, 'drained')
        return
      }
      this.schedule(check, 50)
    }
    check()
  }

  private onGoAway(slot: Slot, connection: ServerConnection, code: number): void {
    if (code === GoAwayCode.REVOKED) {
      // Reported once, by whoever handles the error (the CLI prints it and exits non-zero).
      const hint =
        this.options.stateFile === null
          ? 'start the agent again to get a new tunnel (a new URL)'
          : `start the agent again to get a new tunnel (a new URL); ${this.options.stateFile} still holds the revoked one and is replaced`
      this.fatal(new AditError(ErrorCode.TUNNEL_REVOKED, 410, `tunnel ${this.state.id} was revoked by its owner or the operator; not reconnecting: ${hint}`))
      return
    }
    if (connection.draining) return
    this.logger.info({ connection: connection.number }, 'server asked to move (GOAWAY); opening a replacement')
    if (slot.current === connection) this.replace(slot)
  }

  private onClose(slot: Slot, connection: ServerConnection, info: ConnectionCloseInfo): void {
    this.draining.delete(connection)
    if (this.closed) return
    if (slot.next === connection) {
      // A replacement failed: the current connection keeps serving; try again later.
      slot.next = undefined
      this.schedule(() => {
        if (slot.current !== undefined && slot.next === undefined) this.replace(slot)
        else if (slot.current === undefined) this.open(slot)
      }, slot.backoff.next())
      return
    }
    if (slot.current !== connection) return
    slot.current = undefined
    if (info.opened) {
      this.logger.warn({ connection: connection.number, code: info.code, reason: info.reason }, 'connection to server lost; reconnecting')
      this.emit('status', { state: 'disconnected', connections: this.connectedCount, ...(info.reason ? { reason: info.reason } : {}) })
    }
    if (slot.next !== undefined) {
      // A replacement is already on its way: it becomes the current one.
      slot.current = slot.next
      slot.next = undefined
      return
    }
    if (info.status === 401) {
      this.reregister().then(
        () => this.open(slot),
        (error: Error) => this.fatal(error),
      )
      return
    }
    // Planned moves (GOAWAY) reconnect at once; failures back off. While no
    // connection serves, say (once per change) what the agent waits for.
    let delay: number
    if (connection.serverGoAway) delay = 0
    else if (!info.opened && this.connectedCount === 0) {
      const failure: AttemptFailure = { status: info.status ?? 0, retryAfterMs: info.retryAfterMs, detail: info.error ?? info.reason }
      // Every answer but 401 is worth another try on /ws (a proxy mid-deploy answers 404 or 400).
      delay = this.waitBeforeRetry(verdictFor(failure).retry ? failure : { ...failure, status: 503 }, slot.backoff) ?? slot.backoff.next()
    } else delay = nextDelay(slot.backoff.next(), info.retryAfterMs ?? 0)
    this.schedule(() => {
      if (slot.current === undefined) this.open(slot)
    }, delay)
  }

  /** The server no longer accepts our credentials (new signing key): register again; the URL changes. */
  private reregister(): Promise<void> {
    this.reregistering ??= (async () => {
      try {
        this.logger.warn({ tunnel: this.state.id }, 'the server rejected the saved credentials; registering a new tunnel (the public URL will change)')
        const state = await this.registerUntilAccepted()
        this.registered = state
        if (this.options.stateFile !== null) await saveState(this.options.stateFile, state)
        this.emit('reregistered', state)
      } finally {
        this.reregistering = undefined
      }
    })()
    return this.reregistering
  }

  /** Reports a final error once: every connection gets GOAWAY REVOKED, the first one closes the tunnel. */
  private fatal(error: Error): void {
    if (this.closed) return
    const first = this.firstOpen
    this.firstOpen = undefined
    if (first) first.reject(error)
    else this.emit('error', error)
    void this.close()
  }

  /** A timer close() cancels; `always`: run `fn` on close too (a wait that must end). */
  private schedule(fn: () => void, ms: number, always = false): void {
    if (always && this.closed) return fn()
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      this.stopping.signal.removeEventListener('abort', onAbort)
      fn()
    }, ms)
    const onAbort = (): void => {
      clearTimeout(timer)
      this.timers.delete(timer)
      fn()
    }
    if (always) this.stopping.signal.addEventListener('abort', onAbort, { once: true })
    this.timers.add(timer)
  }

  /** Wraps the user's observer so 'request' events are emitted too. */
  private observerFor(user: ExchangeObserver | undefined): ExchangeObserver {
    const started = new Map<string, ExchangeStart>()
    return {
      onRequest: (start) => {
        started.set(start.id, start)
        user?.onRequest(start)
        if (channels.agentExchangeStart.hasSubscribers) channels.agentExchangeStart.publish({ origin: this, start })
      },
      onRequestBody: user?.onRequestBody?.bind(user),
      onResponse: user?.onResponse?.bind(user),
      onResponseBody: user?.onResponseBody?.bind(user),
      onEnd: (end) => {
        const start = started.get(end.id)
        started.delete(end.id)
        user?.onEnd(end)
        if (channels.agentExchange.hasSubscribers) channels.agentExchange.publish({ origin: this, start, end })
        if (start) this.emit('request', { ...end, method: start.method, path: start.path })
      },
    }
  }
}

/**
 * How long a connection lives before it is replaced (ms, before jitter; 0
 * never): `--max-connection-age`, or half the request timeout the server
 * said its front end has, whichever is shorter — the front end cuts a
 * WebSocket at that timeout, and the replacement needs time to open while
 * the old connection finishes its streams.
 */
export function connectionAge(maxConnectionAgeMs: number, serviceTimeoutMs: number | undefined): number {
  if (serviceTimeoutMs === undefined) return maxConnectionAgeMs
  const half = Math.max(500, Math.floor(serviceTimeoutMs / 2))
  return maxConnectionAgeMs > 0 ? Math.min(maxConnectionAgeMs, half) : half
}

/**
 * Opens a tunnel from `server` to `local` and resolves with its public URL
 * once the first connection is up.
 *
 * @example
 * import { connect } from 'adit'
 * const tunnel = await connect({ server: 'https://adit.example.com', local: 'http://127.0.0.1:3000' })
 * console.log(tunnel.publicUrl)
 * await tunnel.close()
 */
export async function connect(
  input: Partial<AgentOptions> & Pick<AgentOptions, 'server'> & ({ local: string } | { routes: AgentOptions['routes'] }),
): Promise<Tunnel> {
  const tunnel = await createTunnel(input)
  try {
    await tunnel.start()
  } catch (error) {
    await tunnel.close()
    throw error
  }
  return tunnel
}

/**
 * A tunnel ready to start: options checked, the saved credentials read (a
 * different `name` than the saved tunnel's means a new tunnel). Listen to
 * its events, then `await tunnel.start()`; `connect()` does both.
 */
export async function createTunnel(
  input: Partial<AgentOptions> & Pick<AgentOptions, 'server'> & ({ local: string } | { routes: AgentOptions['routes'] }),
): Promise<Tunnel> {
  const options = resolveAgentOptions(input)
  const logger = options.logger ?? createLogger({ name: 'adit-agent', level: 'silent' })
  let state = options.stateFile === null ? null : await loadState(options.stateFile, options.serverUrl.origin)
  if (state !== null && options.name !== undefined && state.id !== options.name) state = null
  return new Tunnel(options, state ?? undefined, logger)
}
