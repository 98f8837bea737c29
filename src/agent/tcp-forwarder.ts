import { connect, type Socket } from 'node:net'
import { Pipe, ResetCode, type RequestHead, type Stream, type StreamHandler } from '../protocol/index.js'
import type { ExchangeObserver } from './exchange-observer.js'
import { LocalAnswer } from './local-answer.js'
import { SocketBridge } from './socket-bridge.js'
import type { TcpTarget } from './local-target.js'

export interface TcpForwarderOptions {
  target: TcpTarget
  observer: ExchangeObserver | undefined
  tunnelId: () => string
}

const NOT_HTTP = 'this is a TCP tunnel: reach it with `adit connect <url> --listen 127.0.0.1:<port>` (or --stdio) and the token its owner gave you'

/**
 * A TCP tunnel's forwarder (`adit tcp`): each TCP stream the server opens
 * (OPEN `tcp`, sent only after it checked the visitor's credential) becomes
 * one TCP connection to the one target this agent was started with. Plain
 * HTTP requests are answered 404 here: a TCP tunnel has no HTTP service.
 */
export class TcpForwarder {
  private readonly options: TcpForwarderOptions
  readonly target: TcpTarget
  private readonly sockets = new Set<Socket>()
  private nextExchange = 1

  constructor(options: TcpForwarderOptions) {
    this.options = options
    this.target = options.target
  }

  get observer(): ExchangeObserver | undefined {
    return this.options.observer
  }

  get tunnelId(): string {
    return this.options.tunnelId()
  }

  forward(stream: Stream, head: RequestHead): StreamHandler {
    const id = `${this.nextExchange++}`
    if (head.tcp !== true) return new LocalAnswer(this, stream, head, id, { status: 404, message: NOT_HTTP, answeredBy: 'agent: TCP tunnel', route: undefined })
    return new TcpConnection(this, stream, head, id)
  }

  track(socket: Socket): void {
    this.sockets.add(socket)
    socket.once('close', () => this.sockets.delete(socket))
  }

  /** Connections still open after a second are cut (a long session must not hold the exit). */
  async close(): Promise<void> {
    if (this.sockets.size === 0) return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        for (const socket of this.sockets) socket.destroy()
        resolve()
      }, 1000)
      let open = this.sockets.size
      for (const socket of this.sockets)
        socket.once('close', () => {
          if (--open === 0) {
            clearTimeout(timer)
            resolve()
          }
        })
    })
  }
}

/** One visitor's TCP connection: connect, answer 101, then a SocketBridge until both sides closed. */
class TcpConnection implements StreamHandler {
  private readonly forwarder: TcpForwarder
  private readonly stream: Stream
  private readonly id: string
  private readonly started = Date.now()
  private readonly socket: Socket
  /** Stream bytes → the socket (it buffers until connected); credit back once it took them. */
  private readonly toLocal: Pipe
  private bridge: SocketBridge | null = null
  private requestBytes = 0
  private responseBytes = 0
  private status = 0
  private done = false

  constructor(forwarder: TcpForwarder, stream: Stream, head: RequestHead, id: string) {
    this.forwarder = forwarder
    this.stream = stream
    this.id = id
    const { target } = forwarder
    forwarder.observer?.onRequest({
      id,
      requestId: head.requestId,
      tunnelId: forwarder.tunnelId,
      method: 'TCP',
      path: `${target.host}:${target.port}`,
      headers: head.headers,
      startedAt: this.started,
    })
    this.toLocal = new Pipe({ source: stream })
    // Half open: a FIN from the service is passed on as END while the visitor may still send.
    this.socket = connect({ host: target.host, port: target.port, allowHalfOpen: true, noDelay: true })
    forwarder.track(this.socket)
    this.toLocal.destination = this.socket
    this.socket.once('connect', this.onConnect)
    this.socket.once('error', this.onConnectError)
  }

  private readonly onConnect = (): void => {
    this.socket.off('error', this.onConnectError)
    if (this.done) return
    this.status = 101
    this.stream.sendHead({ status: 101, headers: [], statusText: 'Switching Protocols' })
    this.forwarder.observer?.onResponse?.(this.id, 101, [])
    this.bridge = new SocketBridge(this.stream, this.socket, this.toLocal, {
      onSocketBytes: (n) => {
        this.responseBytes += n
      },
      onClosed: (error) => this.finish(error),
    })
  }

  private readonly onConnectError = (error: NodeJS.ErrnoException): void => {
    const reason = `${error.code ?? 'error'}: ${error.message}`.slice(0, 300)
    this.stream.reset(ResetCode.LOCAL_UNREACHABLE, reason)
    this.finish(reason)
  }

  onData(chunk: Buffer): void {
    this.requestBytes += chunk.length
    if (this.bridge !== null) this.bridge.onData(chunk)
    else this.toLocal.push(chunk)
  }

  onEnd(): void {
    if (this.bridge !== null) this.bridge.onEnd()
    else this.socket.end()
  }

  onReset(_code: number, reason: string): void {
    if (this.bridge !== null) this.bridge.onReset()
    else this.socket.destroy()
    this.finish(reason || 'reset by the visitor')
  }

  onDrain(): void {
    this.bridge?.onDrain()
  }

  private finish(error: string | undefined): void {
    if (this.done) return
    this.done = true
    this.forwarder.observer?.onEnd({
      id: this.id,
      status: this.status,
      responseHeaders: [],
      requestBytes: this.requestBytes,
      responseBytes: this.responseBytes,
      durationMs: Date.now() - this.started,
      ...(error === undefined ? {} : { error }),
    })
  }
}
