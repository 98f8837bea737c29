import type { Duplex } from 'node:stream'
import { ResetCode, type Pipe, type Stream } from '../protocol/index.js'
import { abortSocket } from '../http/abort-socket.js'

/** What the bridge reports to the exchange that owns it. */
export interface SocketBridgeEvents {
  /** Bytes the local socket produced (sent as DATA). */
  onSocketBytes(n: number): void
  /** The socket closed: after both ends (error undefined) or failed / reset (its message). */
  onClosed(error: string | undefined): void
}

/**
 * A stream and a local socket as one raw two-way byte pipe: an upgraded
 * HTTP connection after its 101, or a TCP tunnel's connection. Credit for
 * the stream's bytes goes back once the socket took them (`toLocal`, the
 * owner's Pipe, now aimed at the socket); the socket is paused while the
 * stream's window is shut. END is a FIN each way (the socket must allow half
 * open), and a reset each way: a RESET resets the socket (a TCP RST), a
 * failed socket resets the stream.
 */
export class SocketBridge {
  private readonly stream: Stream
  private readonly socket: Duplex
  private readonly toLocal: Pipe
  private readonly events: SocketBridgeEvents
  private closed = false
  /** Both FINs went through: the socket's 'end', and the stream's END (socket.end()). */
  private localFin = false
  private remoteFin = false

  constructor(stream: Stream, socket: Duplex, toLocal: Pipe, events: SocketBridgeEvents) {
    this.stream = stream
    this.socket = socket
    this.toLocal = toLocal
    this.events = events
    toLocal.destination = socket
    socket.on('data', this.onSocketData)
    socket.on('end', this.onSocketEnd)
    socket.on('drain', this.onSocketDrain)
    socket.on('close', this.onSocketClose)
    socket.on('error', this.onSocketError)
  }

  // Frames from the server

  onData(chunk: Buffer): void {
    this.toLocal.push(chunk)
  }

  onEnd(): void {
    this.remoteFin = true
    this.socket.end()
  }

  onReset(): void {
    this.closed = true
    abortSocket(this.socket)
  }

  onDrain(): void {
    this.socket.resume()
  }

  private readonly onSocketData = (chunk: Buffer): void => {
    this.events.onSocketBytes(chunk.length)
    if (!this.stream.write(chunk)) this.socket.pause()
  }

  private readonly onSocketEnd = (): void => {
    this.localFin = true
    this.stream.end()
  }

  private readonly onSocketDrain = (): void => {
    this.toLocal.drained()
  }

  private readonly onSocketError = (error: NodeJS.ErrnoException): void => {
    if (this.closed) return
    this.closed = true
    const reason = `local socket ${error.code === 'ECONNRESET' ? 'reset' : 'failed'}: ${error.code ?? error.message}`
    if (!this.stream.closed) this.stream.reset(ResetCode.CANCEL, reason)
    this.events.onClosed(reason)
  }

  private readonly onSocketClose = (): void => {
    if (this.closed) return
    this.closed = true
    // Both FINs through: a clean close, and the stream ends by itself (its last bytes may still wait
    // for credit). Otherwise the socket went away mid-way.
    if (this.localFin && this.remoteFin) return this.events.onClosed(undefined)
    if (!this.stream.closed) this.stream.reset(ResetCode.CANCEL, 'local socket closed')
    this.events.onClosed('local socket closed')
  }
}
