import type { WebSocket } from 'ws'
import {
  Feature,
  GoAwayCode,
  JsonV1Session,
  Session,
  sessionDefaults,
  Subprotocol,
  type ProtocolError,
  type StreamConnection,
  type Transport,
} from '../protocol/index.js'
import type { Logger } from '../observability/logger.js'
import { wsTransport } from '../http/ws-transport.js'

/** WebSocket close codes the server uses. */
export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  POLICY: 1008,
  TOO_BIG: 1009,
} as const

let nextConnectionNumber = 1

/**
 * One agent WebSocket on the server: the session that multiplexes streams
 * over it, a heartbeat, and the bookkeeping to leave the registry when it
 * closes. A protocol error closes this connection only.
 */
export class AgentConnection {
  readonly tunnelId: string
  readonly number = nextConnectionNumber++
  readonly protocol: Subprotocol
  readonly session: StreamConnection
  readonly connectedAt = Date.now()
  private readonly ws: WebSocket
  private readonly logger: Logger
  private alive = true
  /** A protocol error was reported and the connection is closing. */
  private failed = false
  private heartbeat: NodeJS.Timeout | undefined

  constructor(
    ws: WebSocket,
    tunnelId: string,
    options: {
      logger: Logger
      heartbeatMs: number
      maxJsonBodyBytes: number
      /** The optional features negotiated at the upgrade (ws-endpoint's agentFeatures). */
      features?: ReadonlySet<string>
      onClose: (c: AgentConnection) => void
    },
  ) {
    this.ws = ws
    this.tunnelId = tunnelId
    this.logger = options.logger
    this.protocol = ws.protocol === Subprotocol.V2 ? Subprotocol.V2 : Subprotocol.JSON_V1
    const transport: Transport = wsTransport(ws, true)
    const onProtocolError = (error: ProtocolError): void => this.protocolError(error)
    this.session =
      this.protocol === Subprotocol.V2
        ? new Session(transport, {
            role: 'server',
            onProtocolError,
            streamWindow: sessionDefaults.streamWindow,
            windowGrowthBudget: sessionDefaults.windowGrowthBudget,
            now: Date.now,
            endFlag: options.features?.has(Feature.END_FLAG) === true,
            trailers: options.features?.has(Feature.TRAILERS) === true,
            windowBlocked: options.features?.has(Feature.WINDOW_BLOCKED) === true,
          })
        : new JsonV1Session(transport, { maxBodyBytes: options.maxJsonBodyBytes, onProtocolError })

    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (this.protocol === Subprotocol.V2 && !isBinary) {
        this.protocolError({ code: 'ADIT_ERR_BAD_FRAME_PAYLOAD', message: 'adit.v2 frames are binary messages' } as ProtocolError)
        return
      }
      // After a protocol error the connection is closing: what the agent sends meanwhile is not read.
      if (!this.failed) this.session.receive(data)
    })
    ws.on('pong', () => {
      this.alive = true
    })
    ws.on('error', (error) => {
      this.logger.warn({ tunnel: tunnelId, connection: this.number, err: error.message }, 'agent connection error')
    })
    ws.on('close', (code, reason) => {
      if (this.heartbeat) clearInterval(this.heartbeat)
      // Leave the registry first: streams reset by session.close() may be
      // re-dispatched at once, and must not land on this connection again.
      options.onClose(this)
      this.session.close('agent connection closed')
      this.logger.info({ tunnel: tunnelId, connection: this.number, code, reason: reason.toString() }, 'agent disconnected')
    })
    this.heartbeat = setInterval(() => {
      if (!this.alive) {
        this.logger.warn({ tunnel: tunnelId, connection: this.number }, 'agent missed a heartbeat; closing')
        ws.terminate()
        return
      }
      this.alive = false
      ws.ping()
    }, options.heartbeatMs)
    this.heartbeat.unref()
  }

  /**
   * Asks the agent to move to a fresh connection. Advisory by default: this
   * connection keeps taking streams until the agent says its replacement is up.
   */
  goAway(code: number = GoAwayCode.NORMAL, advisory = true): void {
    this.session.goAway(code, advisory)
  }

  /**
   * Draining: ask the agent to move, but keep this connection open for
   * streams even after the agent's replacement is up (its GOAWAY is answered
   * only by `finishDrain`), so requests still arriving here are served.
   */
  startDrain(): void {
    if (this.session instanceof Session) this.session.drain(GoAwayCode.NORMAL)
    else this.session.goAway(GoAwayCode.NORMAL, true)
  }

  /** Draining is over for this instance's public sockets: no more streams here. */
  finishDrain(): void {
    this.session.goAway(GoAwayCode.NORMAL, false)
  }

  close(code: number = CloseCode.GOING_AWAY, reason = 'server closing'): void {
    this.ws.close(code, reason)
  }

  terminate(): void {
    this.ws.terminate()
  }

  private protocolError(error: { code: string; message: string }): void {
    if (this.failed) return
    this.failed = true
    this.logger.warn(
      { tunnel: this.tunnelId, connection: this.number, code: error.code, err: error.message },
      'protocol error from agent; closing its connection',
    )
    this.ws.close(CloseCode.PROTOCOL_ERROR, error.code)
    // Do not wait for the closing handshake of a misbehaving peer.
    setTimeout(() => this.ws.terminate(), 1000).unref()
  }
}
