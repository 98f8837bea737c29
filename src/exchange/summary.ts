/** What every side shares about one exchange: a leaf (imports nothing of adit), so observability need not import server/. */

/** What the proxy reports when an exchange finishes (access log, metrics). */
export interface ExchangeSummary {
  requestId: string
  tunnelId: string
  method: string
  path: string
  status: number
  requestBytes: number
  responseBytes: number
  durationMs: number
  /** Times the request was moved to another connection before any of it was sent. */
  retries: number
  error?: string
  /** The agent's route that took it (from its HEAD), when the tunnel has routes. */
  route?: string
  /** The rule that answered instead of the service: the agent's (`webhook github: …`) or the server's (`visitor rate limit`). */
  answeredBy?: string
}

/** The summary of an exchange that has not started yet. */
export function newExchangeSummary(info: { requestId: string; tunnelId: string; path: string }, method: string): ExchangeSummary {
  return {
    requestId: info.requestId,
    tunnelId: info.tunnelId,
    method,
    path: info.path,
    status: 0,
    requestBytes: 0,
    responseBytes: 0,
    durationMs: 0,
    retries: 0,
  }
}
