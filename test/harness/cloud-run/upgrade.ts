import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http'
import { connect, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Instance } from './instances.js'

/** Writes a plain HTTP answer on a raw client socket (an upgrade the front end refuses) and closes it. */
export function refuseUpgrade(socket: Duplex, status: number, reason: string, message: string): void {
  if (socket.destroyed) return
  const body = `${status} ${message}\n`
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\nx-cloud-run-emulator: front-end\r\n\r\n${body}`,
  )
}

/**
 * A WebSocket (any `Upgrade`) passed to `instance` over HTTP/1.1: the head
 * is written again with the front end's headers, then bytes flow both ways
 * untouched — the instance's `101` included. `cut()` destroys both sides
 * with no close frame, as the request timeout does.
 */
export function forwardUpgrade(
  req: IncomingMessage,
  client: Duplex,
  head: Buffer,
  instance: Instance,
  headers: OutgoingHttpHeaders,
): { cut(): void; closed: Promise<void> } {
  const upstream: Socket = connect(instance.port, '127.0.0.1')
  const cut = (): void => {
    client.destroy()
    upstream.destroy()
  }
  const closed = new Promise<void>((resolve) => {
    let open = 2
    const one = (): void => {
      if (--open === 0) resolve()
    }
    client.once('close', one)
    upstream.once('close', one)
  })
  client.on('error', cut)
  client.once('close', () => upstream.destroy())
  upstream.once('close', () => client.destroy())
  upstream.once('error', () => {
    if (upstream.bytesRead === 0) refuseUpgrade(client, 503, 'Service Unavailable', 'the instance failed to answer')
    else client.destroy()
  })
  upstream.once('connect', () => {
    let text = `${req.method} ${req.url} HTTP/1.1\r\n`
    for (const [name, value] of Object.entries(headers)) for (const v of [value ?? []].flat()) text += `${name}: ${v}\r\n`
    upstream.write(`${text}\r\n`)
    if (head.length > 0) upstream.write(head)
    client.pipe(upstream)
    upstream.pipe(client)
  })
  return { cut, closed }
}
