import { BlockList, isIP } from 'node:net'
import { WebSocket } from 'ws'
import {
  Feature,
  FEATURES_HEADER,
  MAX_STREAM_ID,
  parseFeatures,
  Session,
  sessionDefaults,
  SPOKEN_FEATURES,
  Subprotocol,
  type ProtocolError,
  type Transport,
} from '../protocol/index.js'
import type { Logger } from '../observability/logger.js'
import { wsTransport } from '../http/ws-transport.js'
import type { RequestHead, Stream, StreamHandler } from '../protocol/index.js'
import { parseRetryAfter } from './wait.js'

export interface ServerConnectionOptions {
  url: string
  secret: string
  /** Takes each stream the server opens: the HTTP LocalForwarder, or a TCP tunnel's TcpForwarder. */
  forwarder: { forward(stream: Stream, head: RequestHead): StreamHandler }
  maxFrameBytes: number
  logger: Logger
  /** Close the connection when the server has been silent (no ping, no frame) this long (ms). */
  silenceTimeoutMs: number
  onOpen(connection: ServerConnection): void
  onGoAway(connection: ServerConnection, code: number): void
  /**
   * `status` is the HTTP status when the upgrade was refused (401: credentials rejected), with the
   * server's Retry-After; `error` is why a connection that never opened failed (ECONNREFUSED …).
   */
  onClose(connection: ServerConnection, info: ConnectionCloseInfo): void
}

export interface ConnectionCloseInfo {
  opened: boolean
  status?: number
  retryAfterMs?: number
  error?: string
  code?: number
  reason: string
}

/** `Adit-Service-Timeout-Ms` on the server's `101` (see server/ws-endpoint.ts), as node:http names it. */
const SERVICE_TIMEOUT_HEADER = 'adit-service-timeout-ms'

let nextNumber = 1

/**
 * One WebSocket from the agent to the server, speaking `adit.v2`. Streams
 * the server opens are handed to the local forwarder; frames go through the
 * session, which watches the socket's buffer for backpressure.
 */
export class ServerConnection {
  readonly number = nextNumber++
  readonly session: Session
  opened = false
  /** The server sent GOAWAY: every stream it will open here has been opened. */
  serverGoAway = false
  /** Set while this connection is being replaced (make before break). */
  draining = false
  /** The request timeout of the server's front end (ms), from the `101`; undefined when the server knows none. */
  serviceTimeoutMs: number | undefined
  private readonly ws: WebSocket
  private lastHeard = Date.now()
  private watchdog: NodeJS.Timeout | undefined
  private refusedStatus: number | undefined
  private refusedRetryAfterMs: number | undefined
  private refusedBody = ''
  private failure: string | undefined

  constructor(options: ServerConnectionOptions) {
    const masked = maskNeeded(options.url)
    const ws = new WebSocket(options.url, [Subprotocol.V2], {
      // Optional protocol features this agent speaks; the server's 101 names those it will use.
      headers: { authorization: `Bearer ${options.secret}`, [FEATURES_HEADER]: SPOKEN_FEATURES.join(', ') },
      perMessageDeflate: false,
      maxPayload: options.maxFrameBytes,
      handshakeTimeout: 15_000,
      ...(masked ? {} : { generateMask: zeroMask }),
    })
    this.ws = ws
    const transport: Transport = wsTransport(ws, !masked)
    this.session = new Session(transport, {
      role: 'agent',
      streamWindow: sessionDefaults.streamWindow,
      windowGrowthBudget: sessionDefaults.windowGrowthBudget,
      onStream: (stream, head) => options.forwarder.forward(stream, head),
      onGoAway: (code, lastStreamId) => {
        // An advisory GOAWAY (last stream id 2^32-1) asks us to move; the
        // final one promises no more OPENs.
        if (lastStreamId !== MAX_STREAM_ID) this.serverGoAway = true
        options.onGoAway(this, code)
      },
      onProtocolError: (error: ProtocolError) => {
        options.logger.warn({ connection: this.number, code: error.code, err: error.message }, 'protocol error from server; reconnecting')
        ws.close(1002, error.code)
      },
    })
    ws.on('upgrade', (res) => {
      const told = Number(res.headers[SERVICE_TIMEOUT_HEADER])
      if (Number.isInteger(told) && told >= 1000) this.serviceTimeoutMs = told
      const granted = parseFeatures(res.headers[FEATURES_HEADER])
      if (granted.has(Feature.END_FLAG)) this.session.enableEndFlag()
      if (granted.has(Feature.TRAILERS)) this.session.enableTrailers()
      if (granted.has(Feature.WINDOW_BLOCKED)) this.session.enableWindowBlocked()
    })
    ws.on('open', () => {
      this.opened = true
      this.lastHeard = Date.now()
      if (ws.protocol !== Subprotocol.V2) {
        options.logger.error({ protocol: ws.protocol }, 'server did not accept adit.v2; is it an adit server of a compatible version?')
        ws.close(1002, 'adit.v2 required')
        return
      }
      this.watchdog = setInterval(
        () => {
          if (Date.now() - this.lastHeard > options.silenceTimeoutMs) {
            options.logger.warn({ connection: this.number }, 'server silent for too long; reconnecting')
            ws.terminate()
          }
        },
        Math.max(1000, options.silenceTimeoutMs / 4),
      )
      this.watchdog.unref()
      options.onOpen(this)
    })
    ws.on('message', (data: Buffer) => {
      this.lastHeard = Date.now()
      this.session.receive(data)
    })
    ws.on('ping', () => {
      this.lastHeard = Date.now()
    })
    ws.on('unexpected-response', (_req, res) => {
      this.refusedStatus = res.statusCode
      this.refusedRetryAfterMs = parseRetryAfter(res.headers['retry-after'])
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        if (this.refusedBody.length < 500) this.refusedBody += chunk
      })
      res.on('end', () => {
        // The tunnel says what it does about it, once per change: here only the detail.
        options.logger.debug({ connection: this.number, status: res.statusCode, body: this.refusedBody.trim() }, 'server refused the WebSocket')
        ws.terminate()
      })
    })
    ws.on('error', (error) => {
      if (this.refusedStatus !== undefined) return
      this.failure = (error as NodeJS.ErrnoException).code ?? error.message
      options.logger.debug({ connection: this.number, err: error.message }, 'connection to server failed')
    })
    ws.on('close', (code, reason) => {
      if (this.watchdog) clearInterval(this.watchdog)
      this.session.close('connection to server closed')
      options.onClose(this, {
        opened: this.opened,
        ...(this.refusedStatus === undefined ? {} : { status: this.refusedStatus }),
        ...(this.refusedRetryAfterMs === undefined ? {} : { retryAfterMs: this.refusedRetryAfterMs }),
        ...(this.failure === undefined ? {} : { error: this.failure }),
        ...(this.refusedStatus !== undefined && this.refusedBody.trim() !== '' ? { error: this.refusedBody.trim().slice(0, 200) } : {}),
        code,
        reason: reason.toString(),
      })
    })
  }

  /** Agent side GOAWAY: the server opens nothing more here and answers with its own. */
  drain(): void {
    this.draining = true
    this.session.goAway(0)
  }

  get activeStreams(): number {
    return this.session.activeStreams
  }

  close(code = 1000, reason = 'agent closing'): void {
    if (this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate()
    else this.ws.close(code, reason)
  }

  terminate(): void {
    this.ws.terminate()
  }
}

/**
 * RFC 6455 masks what a client sends so that a script's bytes cannot pose as
 * HTTP to a cleartext intermediary that does not speak WebSocket (a cache it
 * could poison). Where no such intermediary can read the bytes — over TLS, or
 * to a loopback server — the mask protects nothing and costs a pass and a
 * copy of every body byte the agent sends; there the key is all zeros, which
 * `ws` then skips. Cleartext to any other host keeps random keys.
 */
export function maskNeeded(url: string): boolean {
  const { protocol, hostname } = new URL(url)
  if (protocol === 'wss:' || protocol === 'https:') return false
  if (hostname === 'localhost') return false
  const address = hostname.replace(/^\[|\]$/g, '')
  const family = isIP(address)
  return family === 0 || !LOOPBACK.check(address, family === 6 ? 'ipv6' : 'ipv4')
}

const LOOPBACK = new BlockList()
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4')
LOOPBACK.addAddress('::1', 'ipv6')

function zeroMask(mask: Buffer): void {
  mask[0] = mask[1] = mask[2] = mask[3] = 0
}
