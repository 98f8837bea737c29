/**
 * A loopback TCP proxy a test can cut: stands between a client and Redis so
 * an outage can be staged without touching the real server.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { once } from 'node:events'

export class TcpProxy {
  readonly #server: Server
  readonly #sockets = new Set<Socket>()
  #down = false
  port = 0

  constructor(targetHost: string, targetPort: number) {
    this.#server = createServer((client) => {
      this.#track(client)
      if (this.#down) {
        client.destroy()
        return
      }
      const upstream = createConnection({ host: targetHost, port: targetPort })
      this.#track(upstream)
      client.pipe(upstream)
      upstream.pipe(client)
      client.on('close', () => upstream.destroy())
      upstream.on('close', () => client.destroy())
    })
  }

  async listen(): Promise<this> {
    this.#server.listen(0, '127.0.0.1')
    await once(this.#server, 'listening')
    this.port = (this.#server.address() as { port: number }).port
    return this
  }

  /** Drops every open connection and refuses new ones until up(). */
  down(): void {
    this.#down = true
    for (const socket of this.#sockets) socket.destroy()
  }

  up(): void {
    this.#down = false
  }

  async close(): Promise<void> {
    this.down()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }

  #track(socket: Socket): void {
    this.#sockets.add(socket)
    socket.on('error', () => {}) // a cut connection is the point of this proxy
    socket.on('close', () => this.#sockets.delete(socket))
  }
}
