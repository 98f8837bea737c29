import { Socket } from 'node:net'
import type { Duplex } from 'node:stream'

/**
 * A TCP reset on a TCP socket; any other socket (TLS, a pipe, a WebSocket's
 * byte stream) is destroyed. Used where a clean FIN would lie: a cut response
 * body (server), a reset passed through a TCP tunnel (server, agent, visitor).
 */
export function abortSocket(socket: Duplex, error?: Error): void {
  if (socket.destroyed) return
  if (socket instanceof Socket) {
    try {
      // Throws for a handle that is not TCP (a TLS or pipe socket).
      socket.resetAndDestroy()
      return
    } catch {}
  }
  socket.destroy(error)
}
