import type { Socket } from 'node:net'
import type { WebSocket } from 'ws'
import type { Transport } from '../protocol/index.js'

/**
 * A session transport over a `ws` WebSocket, with writes coalesced per tick
 * (as nats.js does per microtask): the first frame of a tick corks the TCP
 * socket and a nextTick uncorks it, so the OPEN+END of a request, or the
 * HEAD+DATA+END of a small response, leave in one writev instead of one
 * syscall each. Frames stay one WebSocket message each.
 */
export function wsTransport(ws: WebSocket): Transport {
  // ws keeps its net.Socket in `_socket` (set once a client connects); no public accessor exists.
  let socket: Socket | undefined
  let corked = false
  const uncork = (): void => {
    corked = false
    socket?.uncork()
  }
  return {
    send(frame, onSent) {
      socket ??= (ws as unknown as { _socket?: Socket })._socket
      if (!corked && socket !== undefined) {
        corked = true
        socket.cork()
        process.nextTick(uncork)
      }
      ws.send(frame, { binary: typeof frame !== 'string' }, onSent)
    },
    get bufferedAmount() {
      return ws.bufferedAmount
    },
  }
}
