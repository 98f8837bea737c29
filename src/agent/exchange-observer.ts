/**
 * What the agent tells watchers (the inspector, the --json printer, library
 * users' events) about each request it forwards. The forwarder calls these
 * only when an observer is attached; body chunks are views the observer must
 * copy if it keeps them (and should cap what it keeps).
 */
export interface ExchangeStart {
  /** Unique per agent process: `${tunnelId}:${connection}:${streamId}` or the server's request id. */
  id: string
  requestId: string | undefined
  tunnelId: string
  method: string
  /** Path and query as the local service saw them. */
  path: string
  headers: Array<[string, string]>
  startedAt: number
  /** The route the request took (`/api → http://127.0.0.1:4000`), when the tunnel has routes. */
  route?: string
}

export interface ExchangeEnd {
  id: string
  status: number
  /** 0 until the local service answered. */
  responseHeaders: Array<[string, string]>
  requestBytes: number
  responseBytes: number
  durationMs: number
  /** Set when the exchange failed: 'local unreachable', 'client went away', ... */
  error?: string
  /** The agent's rule that answered instead of the local service: `route /old → 410`, `webhook github: bad signature` … */
  answeredBy?: string
}

export interface ExchangeObserver {
  onRequest(start: ExchangeStart): void
  onRequestBody?(id: string, chunk: Buffer): void
  onResponse?(id: string, status: number, headers: Array<[string, string]>): void
  onResponseBody?(id: string, chunk: Buffer): void
  onEnd(end: ExchangeEnd): void
}
