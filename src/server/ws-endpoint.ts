import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import { agreedFeatures, FEATURES_HEADER, Subprotocol } from '../protocol/index.js'
import type { TunnelStore } from '../cluster/types.js'
import type { Logger } from '../observability/logger.js'
import type { Credentials } from './credentials.js'
import { isValidTunnelId } from './tunnel-routes.js'
import { verifyTunnelSecret } from './security/tunnel-secret.js'
import type { TunnelRecord } from '../cluster/types.js'

export interface AgentEndpointOptions {
  credentials: Credentials
  store: TunnelStore | undefined
  logger: Logger
  maxFrameBytes: number
  /** The front end's request timeout (ms), told to every agent on its upgrade; undefined: none known. */
  serviceTimeoutMs?: number | undefined
  /** Called with an authenticated agent WebSocket and the record its secret was verified against (null without a store). */
  onAgent(ws: WebSocket, tunnelId: string, req: IncomingMessage, record: TunnelRecord | null): void
  /** False while draining: new agents are sent elsewhere. */
  accepting(): boolean
}

/**
 * On the `101` of `/ws`: the request timeout of the front end in front of
 * the server, in ms. The agent replaces each connection before it.
 */
export const SERVICE_TIMEOUT_HEADER = 'Adit-Service-Timeout-Ms'

/**
 * `GET /ws`: authenticates an agent (`Authorization: Bearer <secret>` +
 * `?id=`, or the original `?id=&secret=`) before the upgrade completes, and
 * picks the subprotocol: `adit.v2` when offered, else `adit.json.v1` (also
 * for agents that offer none, as the original ones do).
 */
export class AgentEndpoint {
  private readonly wss: WebSocketServer
  private readonly options: AgentEndpointOptions

  constructor(options: AgentEndpointOptions) {
    this.options = options
    this.wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: options.maxFrameBytes,
      clientTracking: false,
      handleProtocols: (protocols) => {
        if (protocols.has(Subprotocol.V2)) return Subprotocol.V2
        if (protocols.has(Subprotocol.JSON_V1)) return Subprotocol.JSON_V1
        return false
      },
    })
    const timeout = options.serviceTimeoutMs
    if (timeout !== undefined) this.wss.on('headers', (headers) => headers.push(`${SERVICE_TIMEOUT_HEADER}: ${timeout}`))
    // The 101 names the optional features this server will use with this agent (none for an agent that offered none).
    this.wss.on('headers', (headers: string[], req: IncomingMessage) => {
      const agreed = agentFeatures(req)
      if (agreed.size > 0) headers.push(`Adit-Features: ${[...agreed].join(', ')}`)
    })
  }

  async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x')
    const id = url.searchParams.get('id') ?? ''
    const auth = req.headers.authorization
    const secret = auth?.startsWith('Bearer ') ? auth.slice(7).trim() : (url.searchParams.get('secret') ?? '')
    if (!this.options.accepting()) return reject(socket, 503, 'server is draining; reconnect to another instance')
    if (!isValidTunnelId(id) || secret === '') return reject(socket, 401, 'missing or malformed tunnel id or secret')
    const { credentials, store } = this.options
    let record: TunnelRecord | null = null
    try {
      if (store !== undefined) {
        if (await store.isRevoked(id)) return reject(socket, 401, 'tunnel revoked')
        record = await store.get(id)
        // No record, no tunnel: its rules, generation and revocation are unknown here (a lost store, --store memory
        // after a restart). The agent registers again, with its rules; never served with none.
        if (record === null) return reject(socket, 401, 'unknown tunnel id (not registered here, or its record was lost); register again')
      } else if (!credentials.isSignedId(id)) {
        return reject(socket, 401, 'unknown tunnel id')
      }
    } catch (error) {
      this.options.logger.error({ err: (error as Error).message }, 'tunnel store unavailable during agent authentication')
      return reject(socket, 503, 'tunnel store unavailable; retry shortly', { 'Retry-After': '2' })
    }
    // The current secret, or the previous one during a rotation's grace period.
    if (store !== undefined && !verifyTunnelSecret(credentials, id, secret, record, Date.now())) {
      this.options.logger.warn({ tunnel: id, ip: req.socket.remoteAddress }, 'agent presented a wrong secret')
      return reject(socket, 401, 'wrong secret for this tunnel id')
    }
    if (store === undefined && !credentials.verify(id, secret)) {
      this.options.logger.warn({ tunnel: id, ip: req.socket.remoteAddress }, 'agent presented a wrong secret')
      return reject(socket, 401, 'wrong secret for this tunnel id')
    }
    if (socket.destroyed) return
    this.wss.handleUpgrade(req, socket, head, (ws) => this.options.onAgent(ws, id, req, record))
  }

  close(): void {
    this.wss.close()
  }
}

/**
 * The optional features in force with this agent: those it named in its
 * upgrade's `Adit-Features` that this server speaks too (`end-flag`,
 * `trailers`); the 101 names the same set.
 */
export function agentFeatures(req: IncomingMessage): Set<string> {
  return agreedFeatures(req.headers[FEATURES_HEADER])
}

/** Answers an upgrade with a plain HTTP error and closes the socket. */
export function reject(socket: Duplex, status: number, message: string, headers: Record<string, string> = {}): void {
  if (socket.destroyed) return
  const reason = { 400: 'Bad Request', 401: 'Unauthorized', 404: 'Not Found', 501: 'Not Implemented', 503: 'Service Unavailable' }[status] ?? 'Error'
  const body = `${status} ${message}\n`
  const extra = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}Connection: close\r\n\r\n${body}`,
  )
}
