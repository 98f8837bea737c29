import { connect, type Socket } from 'node:net'
import type { Spawned } from './processes.js'
import type { LocalService } from './local-service.js'

/** Everything a test started, stopped in reverse order even when it fails. */
export function cleanup() {
  const stoppers: Array<() => Promise<unknown>> = []
  return {
    add<T extends Spawned | LocalService | { remove(): void } | { close(): unknown }>(thing: T): T {
      if ('stop' in thing) stoppers.push(() => thing.stop('SIGKILL'))
      else if ('close' in thing) stoppers.push(async () => thing.close())
      else stoppers.push(async () => thing.remove())
      return thing
    },
    async run() {
      for (const stop of stoppers.reverse()) await stop().catch(() => {})
      stoppers.length = 0
    },
  }
}

/**
 * Writes raw bytes to host:port and resolves with everything read until the
 * server closes (or `timeoutMs`, then the socket is destroyed): `closed` says
 * whether the server ended the connection itself.
 */
export function rawExchange(port: number, bytes: string | Buffer, timeoutMs = 3000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket: Socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    const timer = setTimeout(() => {
      socket.destroy()
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closed: false })
    }, timeoutMs)
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('error', () => {})
    socket.on('close', () => {
      clearTimeout(timer)
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closed: true })
    })
    socket.write(bytes)
  })
}

/** Status code of the first response in raw HTTP text, or 0. */
export function statusOf(text: string): number {
  const match = /^HTTP\/1\.1 (\d{3})/.exec(text)
  return match ? Number(match[1]) : 0
}
