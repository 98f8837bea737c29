/**
 * A delay line: a TCP proxy on loopback that holds every chunk for a fixed
 * time before passing it on, each way — a long path (the agent in another
 * region) with unlimited bandwidth. TCP's own windows never see the delay
 * (each side talks to the proxy on loopback), so what limits a transfer
 * through it is the application's flow control: adit's stream windows.
 * The held bytes are bounded by what those windows let in flight.
 */
import { createServer, connect, type Server, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'

export interface DelayLine {
  port: number
  close(): Promise<void>
}

/** Moves chunks from `from` to `to`, each `delayMs` after it arrived, in order. */
function delayed(from: Socket, to: Socket, delayMs: number): void {
  const queue: Array<{ chunk: Buffer; due: number }> = []
  let timer: NodeJS.Timeout | undefined
  const release = (): void => {
    timer = undefined
    const now = performance.now()
    while (queue.length > 0 && queue[0]!.due <= now) to.write(queue.shift()!.chunk)
    if (queue.length > 0) timer = setTimeout(release, queue[0]!.due - now)
    else if (from.readableEnded) to.end()
  }
  from.on('data', (chunk: Buffer) => {
    queue.push({ chunk, due: performance.now() + delayMs })
    timer ??= setTimeout(release, delayMs)
  })
  from.on('end', () => {
    if (queue.length === 0 && timer === undefined) to.end()
  })
}

export async function startDelayLine(targetPort: number, oneWayMs: number): Promise<DelayLine> {
  const sockets = new Set<Socket>()
  const server: Server = createServer((inbound) => {
    const outbound = connect(targetPort, '127.0.0.1')
    for (const s of [inbound, outbound]) {
      sockets.add(s)
      s.setNoDelay(true)
      s.on('error', () => {
        inbound.destroy()
        outbound.destroy()
      })
      s.on('close', () => {
        sockets.delete(s)
        inbound.destroy()
        outbound.destroy()
      })
    }
    delayed(inbound, outbound, oneWayMs)
    delayed(outbound, inbound, oneWayMs)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}
