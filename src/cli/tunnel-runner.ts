/**
 * One tunnel as the CLI runs it: start it (the tunnel itself waits for the
 * server as long as it takes), then turn the Tunnel's events into
 * status-board changes and --json lines. A final error (credentials
 * refused, revoked) is said once: by bin.ts for a single tunnel, on its
 * board row (or --json line) when the agent runs several.
 */
import type { AgentOptions } from '../agent/config.js'
import type { ExchangeObserver } from '../agent/exchange-observer.js'
import { createTunnel, type Tunnel } from '../agent/tunnel.js'
import type { AditError } from '../errors.js'
import type { Logger } from '../observability/logger.js'
import type { TunnelAccess } from './agent-config-file.js'
import type { TunnelStatus } from './status-board.js'

export interface TunnelPlan {
  /** The configured name (also asked for as the tunnel id), if any. */
  name: string | undefined
  options: Partial<AgentOptions> & Pick<AgentOptions, 'server' | 'local'>
  /**
   * Access rules from the config file. Checked and kept, not yet sent: the
   * server on this branch takes no access rules at POST /register.
   */
  access: TunnelAccess | undefined
}

export interface TunnelRunnerOptions {
  logger: Logger
  observer: ExchangeObserver | undefined
  /** The board row; undefined in --json mode. */
  status: TunnelStatus | undefined
  /** Writes one --json event; undefined when not in --json mode. */
  json: ((event: Record<string, unknown>) => void) | undefined
  /** Several tunnels: a final error stops this one only (shown on its row) instead of the agent. */
  retry: boolean
  /** Shapes a request path for display (redacts credentials in the query). */
  redactPath: (path: string) => string
  /** The tunnel is up (tracing, metrics attach here). */
  onTunnel: (tunnel: Tunnel) => Promise<void> | void
  /** The tunnel's public URL is known or changed. */
  onUrl: (url: string) => void
  /** A TCP tunnel's visitor token is known or changed (start, re-registration, rotation). */
  onVisitorToken?: (token: string, publicUrl: string) => void
  /** A tunnel error the runner cannot recover from (single tunnel: the agent stops). */
  onFatal: (error: Error) => void
}

export class TunnelRunner {
  readonly plan: TunnelPlan
  tunnel: Tunnel | undefined
  private readonly options: TunnelRunnerOptions
  private closed = false
  /** start() has resolved: status events now move the row (before, start() itself does). */
  private ready = false

  constructor(plan: TunnelPlan, options: TunnelRunnerOptions) {
    this.plan = plan
    this.options = options
  }

  get label(): string {
    return this.plan.name ?? this.tunnel?.id ?? this.plan.options.local
  }

  /**
   * Starts the tunnel; resolves once it is up. A final refusal rejects (one
   * tunnel) or is shown on its row (several: the others go on).
   */
  async start(): Promise<void> {
    const { status, logger } = this.options
    status?.setState('connecting', { server: this.plan.options.server })
    let tunnel: Tunnel | undefined
    try {
      tunnel = await createTunnel({ ...this.plan.options, logger, ...(this.options.observer ? { observer: this.options.observer } : {}) })
      this.tunnel = tunnel
      this.attach(tunnel)
      await tunnel.start()
    } catch (error) {
      await tunnel?.close()
      if (this.closed) return
      this.reportFatal(error as Error)
      if (!this.options.retry) throw error
      return
    }
    if (this.closed) {
      await tunnel.close()
      return
    }
    this.ready = true
    await this.options.onTunnel(tunnel)
    this.options.onUrl(tunnel.publicUrl)
    status?.setPublicUrl(tunnel.publicUrl, false)
    status?.setLabel(this.label)
    status?.setState('online')
    const token = tunnel.visitorToken
    this.options.json?.({
      event: 'ready',
      ...(this.plan.name ? { name: this.plan.name } : {}),
      id: tunnel.id,
      public_url: tunnel.publicUrl,
      ...(token !== undefined ? { visitor_token: token } : {}),
    })
    if (token !== undefined) this.options.onVisitorToken?.(token, tunnel.publicUrl)
  }

  /** A final error: a --json line; the board row only with several tunnels (one tunnel: bin.ts says it). */
  private reportFatal(error: Error): void {
    this.options.json?.({
      event: 'error',
      ...(this.plan.name ? { name: this.plan.name } : {}),
      local: this.plan.options.local,
      message: error.message,
      code: (error as AditError).code,
    })
    if (this.options.retry) this.options.status?.setState('error', { error: error.message })
  }

  private attach(tunnel: Tunnel): void {
    const { status } = this.options
    tunnel.on('waiting', (wait) => {
      status?.setWaiting(wait.message)
      this.options.json?.({
        event: 'waiting',
        ...(this.plan.name ? { name: this.plan.name } : {}),
        reason: wait.reason,
        message: wait.message,
        retry_in_ms: wait.retryInMs,
      })
    })
    tunnel.on('status', (change) => {
      if (!this.ready) return
      if (change.state === 'connected') status?.setState('online')
      else if (change.connections === 0) status?.setState('reconnecting', change.reason ? { error: change.reason } : {})
    })
    tunnel.on('request', (r) => {
      status?.request({
        method: r.method,
        path: this.options.redactPath(r.path),
        status: r.status,
        responseBytes: r.responseBytes,
        durationMs: r.durationMs,
        ...(r.error ? { error: r.error } : {}),
      })
    })
    tunnel.on('reregistered', (state) => {
      this.options.onUrl(state.public_url)
      status?.setPublicUrl(state.public_url, true)
      status?.setLabel(this.label)
      this.options.json?.({
        event: 'ready',
        ...(this.plan.name ? { name: this.plan.name } : {}),
        id: state.id,
        public_url: state.public_url,
        reregistered: true,
        ...(tunnel.visitorToken !== undefined ? { visitor_token: tunnel.visitorToken } : {}),
      })
      if (tunnel.visitorToken !== undefined) this.options.onVisitorToken?.(tunnel.visitorToken, state.public_url)
    })
    tunnel.on('rotated', (state) => {
      const token = tunnel.visitorToken
      if (token === undefined) return
      this.options.json?.({ event: 'visitor_token', ...(this.plan.name ? { name: this.plan.name } : {}), id: state.id, visitor_token: token })
      this.options.onVisitorToken?.(token, state.public_url)
    })
    tunnel.on('error', (error) => {
      this.reportFatal(error)
      this.options.onFatal(error)
    })
  }

  /** Stops the tunnel; with `graceMs`, requests in flight get that long to finish. */
  async close(graceMs = 0): Promise<void> {
    this.closed = true
    await this.tunnel?.close(graceMs)
  }
}
