import { Socket } from 'node:net'
import type { Duplex } from 'node:stream'

/**
 * A TCP reset on a TCP socket; any other socket (TLS, a pipe, a WebSocket's
 * byte stream) is destroyed. Used where a clean FIN would lie: a cut response
 * body (server), a reset passed through a TCP tunnel (server, agent, visitor).
 *
 * A socket whose FIN is being sent (`end()` called, nothing left to write,
 * the shutdown not yet done) is destroyed too: libuv refuses to reset it
 * (EINVAL) and Node then drops the handle without closing it — no 'close',
 * one file descriptor leaked per socket (seen on Node 20) — and the FIN tells
 * the peer what a reset would.
 */
export function abortSocket(socket: Duplex, error?: Error): void {
  if (socket.destroyed) return
  const shuttingDown = socket.writableEnded && !socket.writableFinished && socket.writableLength === 0
  if (socket instanceof Socket && !shuttingDown) {
    try {
      // Throws for a handle that is not TCP (a TLS or pipe socket).
      socket.resetAndDestroy()
      return
    } catch {}
  }
  socket.destroy(error)
}
