/**
 * The dashboard's "recent requests": the last finished public requests on
 * this instance, newest first, each with the route the agent said it took
 * and the rule that answered it (the agent's — a webhook check, a status
 * route — or the server's — a rate limit, an access rule). A fixed-size
 * ring: memory does not grow with traffic.
 */
import type { ExchangeSummary } from '../../exchange/summary.js'
import { redactUrl } from '../../observability/logger.js'

export interface RecentRequest {
  at: string
  requestId: string
  tunnelId: string
  method: string
  path: string
  status: number
  durationMs: number
  route?: string
  answeredBy?: string
  error?: string
}

export type RecentInput = Pick<ExchangeSummary, 'tunnelId' | 'status'> &
  Partial<Pick<ExchangeSummary, 'requestId' | 'method' | 'path' | 'durationMs' | 'route' | 'answeredBy' | 'error'>>

/** Long paths are cut: the dashboard shows where a request went, not its whole query string. */
const MAX_PATH = 200

export class RecentRequests {
  private readonly ring: Array<RecentRequest | undefined>
  private next = 0

  constructor(readonly capacity = 50) {
    this.ring = new Array<RecentRequest | undefined>(capacity)
  }

  record(summary: RecentInput, nowMs: number): void {
    if (this.capacity === 0) return
    // Secrets in a query string (?token=…) are redacted as in the access log.
    const path = redactUrl(summary.path ?? '')
    const entry: RecentRequest = {
      at: new Date(nowMs).toISOString(),
      requestId: summary.requestId ?? '',
      tunnelId: summary.tunnelId,
      method: summary.method ?? '',
      path: path.length > MAX_PATH ? `${path.slice(0, MAX_PATH)}…` : path,
      status: summary.status,
      durationMs: Math.round(summary.durationMs ?? 0),
    }
    if (summary.route !== undefined) entry.route = summary.route
    if (summary.answeredBy !== undefined) entry.answeredBy = summary.answeredBy
    if (summary.error !== undefined) entry.error = summary.error
    this.ring[this.next] = entry
    this.next = (this.next + 1) % this.capacity
  }

  /** Newest first. */
  list(): RecentRequest[] {
    const out: RecentRequest[] = []
    for (let i = 1; i <= this.capacity; i++) {
      const entry = this.ring[(this.next - i + this.capacity) % this.capacity]
      if (entry === undefined) break
      out.push(entry)
    }
    return out
  }
}
