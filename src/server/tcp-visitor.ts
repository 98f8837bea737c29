import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer } from 'ws'
import { TCP_SUBPROTOCOL, WsTcpDuplex } from '../http/ws-tcp-duplex.js'

/** A visitor's WebSocket message may be this large at most (adit.tcp.v1 senders stay at 256 KiB). */
const MAX_MESSAGE_BYTES = 1024 * 1024

/** True when a public WebSocket upgrade is a TCP visitor's (`adit connect`): it offers `adit.tcp.v1`. */
export function isTcpVisitor(req: IncomingMessage): boolean {
  const offered = req.headers['sec-websocket-protocol']
  if (offered === undefined) return false
  return offered.split(',').some((name) => name.trim() === TCP_SUBPROTOCOL)
}

/**
 * The server's end of a TCP visitor's WebSocket. The handshake is checked
 * before any stream opens (so a bad one costs the agent nothing) and
 * completed only once the agent's 101 says its local service took the
 * connection: until then every failure is a plain HTTP answer the visitor's
 * `adit connect` can print. Then the stream pipes to the WebSocket's bytes
 * (WsTcpDuplex) through UpgradeExchange, credit and half-close included.
 */
export class TcpVisitorAcceptor {
  private readonly wss: WebSocketServer
  private readonly requestIds = new WeakMap<IncomingMessage, string>()

  constructor() {
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: MAX_MESSAGE_BYTES,
      handleProtocols: (offered) => (offered.has(TCP_SUBPROTOCOL) ? TCP_SUBPROTOCOL : false),
    })
    this.wss.on('headers', (headers, req) => {
      const id = this.requestIds.get(req)
      if (id !== undefined) headers.push(`X-Adit-Request-Id: ${id}`)
    })
  }

  /** What is wrong with the handshake, or null: the checks ws would answer 400 for, made before a stream opens. */
  handshakeProblem(req: IncomingMessage): string | null {
    if (req.method !== 'GET') return 'a WebSocket upgrade must be a GET'
    if (req.headers['sec-websocket-version'] !== '13') return 'Sec-WebSocket-Version must be 13'
    if (!/^[+/0-9A-Za-z]{22}==$/.test(req.headers['sec-websocket-key'] ?? '')) return 'missing or malformed Sec-WebSocket-Key'
    return null
  }

  /** Completes the handshake (writes the 101); the visitor's TCP bytes, or null when the socket is gone. */
  accept(req: IncomingMessage, socket: Duplex, early: Buffer, requestId: string): Duplex | null {
    if (socket.destroyed || !socket.writable) return null
    this.requestIds.set(req, requestId)
    let client: Duplex | null = null
    // ws completes the upgrade synchronously on a live socket.
    this.wss.handleUpgrade(req, socket, early, (ws) => {
      client = new WsTcpDuplex(ws)
    })
    return client
  }

  close(): void {
    this.wss.close()
  }
}
