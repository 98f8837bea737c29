/**
 * A local service whose answers are cut (or hang) mid-body, for the
 * truncation tests (HTTP/1.1 and HTTP/2 public clients): each path sends
 * CUT_PART (1,000 bytes) of a longer body, then —
 *   /close-delimited-resets  no length, no chunking, then a reset (RST)
 *   /close-delimited         no length, no chunking, then hangs
 *   /chunked-dies            chunked, the connection destroyed before the last chunk
 *   /with-length[-dies]      content-length 100,000, then hangs (or the connection is destroyed)
 * Sockets that hang are added to `hanging` for the test to destroy.
 */
import type { Socket } from 'node:net'
import { startLocalService, type LocalService } from './local-service.js'

export const CUT_PART = 'x'.repeat(1000)

export function startCuttingService(hanging: Set<Socket>): Promise<LocalService> {
  return startLocalService((req, res) => {
    const url = req.url ?? ''
    const socket = req.socket
    if (url.startsWith('/close-delimited-resets')) {
      // An abortive close after a close-delimited head: the body was cut, not ended.
      socket.write(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${CUT_PART}`)
      setTimeout(() => socket.resetAndDestroy(), 200)
      return true
    }
    if (url.startsWith('/close-delimited')) {
      // The body ends when the connection does.
      socket.write(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${CUT_PART}`)
      hanging.add(socket)
      return true
    }
    if (url.startsWith('/chunked-dies')) {
      // Cut before the last chunk: the agent can tell and resets the stream.
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.write(CUT_PART)
      setTimeout(() => socket.destroy(), 200)
      return true
    }
    if (url.startsWith('/with-length')) {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 100_000 })
      res.write(CUT_PART)
      if (url.includes('dies')) setTimeout(() => socket.destroy(), 200)
      else hanging.add(socket)
      return true
    }
    return false
  })
}
