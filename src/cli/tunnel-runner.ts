/**
 * One tunnel as the CLI runs it: connect (with retries when the agent runs
 * several, so one bad entry does not stop the others), then turn the
 * Tunnel's events into status-board changes and --json lines.
 */
import { Backoff } from '../agent/backoff.js'
import type { AgentOptions } from '../agent/config.js'
import type { ExchangeObserver } from '../agent/exchange-observer.js'
import { connect, type Tunnel } from '../agent/tunnel.js'
import { AditError, ErrorCode } from '../errors.js'
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
  /** Retry a failed connect with backoff instead of rejecting (several tunnels). */
  retry: boolean
  /** Shapes a request path for display (redacts credentials in the query). */
  redactPath: (path: string) => string
  /** The tunnel is up (tracing, metrics attach here). */
  onTunnel: (tunnel: Tunnel) => Promise<void> | void
  /** The tunnel's public URL is known or changed. */
  onUrl: (url: string) => void
  /** A tunnel error the runner cannot recover from (single tunnel: the agent stops). */
  onFatal: (error: Error) => void
}

/** Registration answers that retrying cannot change (bad key, taken name, bad request). */
function retryable(error: unknown): boolean {
  if (!(error instanceof AditError)) return true
  if (error.code === ErrorCode.CONFIG || error.code === ErrorCode.STATE_FILE) return false
  if (error.code === ErrorCode.REGISTRATION) return error.status === 0 || error.status >= 500 || error.status === 429
  return true
}

export class TunnelRunner {
  readonly plan: TunnelPlan
  tunnel: Tunnel | undefined
  private readonly options: TunnelRunnerOptions
  private readonly backoff = new Backoff(1000, 30_000)
  private retryTimer: NodeJS.Timeout | undefined
  private closed = false

  constructor(plan: TunnelPlan, options: TunnelRunnerOptions) {
    this.plan = plan
    this.options = options
  }

  get label(): string {
    return this.plan.name ?? this.tunnel?.id ?? this.plan.options.local
  }

  /** Connects; resolves once the tunnel is up (or, with `retry`, once the first attempt settled). */
  async start(): Promise<void> {
    const { status, logger } = this.options
    status?.setState('connecting', { server: this.plan.options.server })
    let tunnel: Tunnel
    try {
      tunnel = await connect({ ...this.plan.options, logger, ...(this.options.observer ? { observer: this.options.observer } : {}) })
    } catch (error) {
      const message = (error as Error).message
      status?.setState('error', { error: message })
      this.options.json?.({
        event: 'error',
        ...(this.plan.name ? { name: this.plan.name } : {}),
        local: this.plan.options.local,
        message,
        code: (error as AditError).code,
      })
      if (!this.options.retry) throw error
      if (!retryable(error) || this.closed) {
        logger.error({ tunnel: this.label, err: message }, 'tunnel cannot start; fix the config and restart the agent')
        return
      }
      const delay = this.backoff.next()
      logger.warn({ tunnel: this.label, err: message, retryInMs: delay }, 'tunnel failed to start; retrying')
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined
        if (!this.closed) void this.start()
      }, delay)
      return
    }
    if (this.closed) {
      await tunnel.close()
      return
    }
    this.tunnel = tunnel
    this.attach(tunnel)
    await this.options.onTunnel(tunnel)
    this.options.onUrl(tunnel.publicUrl)
    status?.setPublicUrl(tunnel.publicUrl, false)
    status?.setLabel(this.label)
    status?.setState('online')
    this.options.json?.({ event: 'ready', ...(this.plan.name ? { name: this.plan.name } : {}), id: tunnel.id, public_url: tunnel.publicUrl })
  }

  private attach(tunnel: Tunnel): void {
    const { status } = this.options
    tunnel.on('status', (change) => {
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
      })
    })
    tunnel.on('error', (error) => {
      status?.setState('error', { error: error.message })
      this.options.onFatal(error)
    })
  }

  /** Stops the tunnel; with `graceMs`, requests in flight get that long to finish. */
  async close(graceMs = 0): Promise<void> {
    this.closed = true
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer)
    await this.tunnel?.close(graceMs)
  }
}
