import { connect, createServer, type Server, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'

/**
 * A small TCP load balancer for tests, on loopback: each client connection
 * goes to the first backend (in `order`) that accepts it — failover, so a
 * draining server that stopped listening sends new connections to the next
 * — or round-robin.
 */
export interface TcpBalancer {
  url: string
  port: number
  backends: number[]
  close(): Promise<void>
}

export async function startTcpBalancer(backends: number[], mode: 'failover' | 'round-robin' = 'failover'): Promise<TcpBalancer> {
  const sockets = new Set<Socket>()
  let next = 0
  const server: Server = createServer((client) => {
    sockets.add(client)
    client.on('close', () => sockets.delete(client))
    client.on('error', () => client.destroy())
    client.pause()
    const start = mode === 'round-robin' ? next++ % Math.max(1, backends.length) : 0
    const tryBackend = (attempt: number): void => {
      if (attempt >= backends.length || client.destroyed) {
        client.destroy()
        return
      }
      const port = backends[(start + attempt) % backends.length]!
      const upstream = connect(port, '127.0.0.1')
      sockets.add(upstream)
      // Only a refused connect moves on to the next backend.
      upstream.once('error', () => {
        sockets.delete(upstream)
        tryBackend(attempt + 1)
      })
      upstream.once('connect', () => {
        upstream.removeAllListeners('error')
        upstream.on('error', () => client.destroy())
        // Half-closes pass through (pipe ends the other side once it has
        // flushed); only an abort is passed on as an abort.
        upstream.on('close', (hadError) => {
          sockets.delete(upstream)
          if (hadError) client.destroy()
        })
        client.on('close', (hadError) => {
          if (hadError) upstream.destroy()
          else upstream.end()
        })
        client.pipe(upstream)
        upstream.pipe(client)
        client.resume()
      })
    }
    tryBackend(0)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    backends,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}
