import type { Socket } from 'node:net'

/**
 * How the peer ended a connection, as seen from this end: 'reset' or 'fin'.
 *
 * Node 20's client can report a reset as a clean end: when the RST arrives
 * while received bytes still wait unread in the kernel (a busy event loop),
 * it delivers them and then 'end' (Node 24 says ECONNRESET). So on 'end' this
 * writes one probe byte: a socket the peer reset is closed in the kernel and
 * the write fails (EPIPE), one that got a FIN is still writable. The socket
 * must be opened with `allowHalfOpen: true` (else Node ends it on 'end' and
 * refuses the write itself); the caller's `onEnded` runs once, then the
 * socket is destroyed.
 */
export function watchPeerEnding(socket: Socket, onEnded: (how: 'reset' | 'fin') => void): void {
  let settled = false
  const settle = (how: 'reset' | 'fin'): void => {
    if (settled) return
    settled = true
    onEnded(how)
    socket.destroy()
  }
  socket.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'ECONNRESET' || err.code === 'EPIPE') settle('reset')
  })
  socket.on('end', () => {
    if (settled) return
    socket.write('\r\n', (err) => settle(err ? 'reset' : 'fin'))
  })
}
