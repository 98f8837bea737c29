import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { spawnAdit, type Spawned } from './processes.js'

export interface TcpAgentProcess extends Spawned {
  id: string
  publicUrl: string
  /** The visitor token it printed (`ready` event, `visitor_token`). */
  token: string
}

/** `adit tcp <target> --json`; resolves at its ready line (which carries the visitor token). */
export async function startTcpAgent(
  server: string,
  target: string,
  stateFile: string,
  args: string[] = [],
  env: NodeJS.ProcessEnv = {},
): Promise<TcpAgentProcess> {
  const spawned = spawnAdit(['tcp', target, '--server', server, '--json', '--state-file', stateFile, '--no-inspect', ...args], env)
  try {
    const line = await spawned.waitForLine((l) => l.startsWith('{"event":"ready"'), 30_000)
    const { id, public_url, visitor_token } = JSON.parse(line) as { id: string; public_url: string; visitor_token: string }
    return Object.assign(spawned, { id, publicUrl: public_url, token: visitor_token })
  } catch (error) {
    await spawned.stop('SIGKILL')
    throw error
  }
}

export interface ConnectProcess extends Spawned {
  port: number
}

/** `adit connect <url> --listen 127.0.0.1:0 …`; resolves with the port it listens on. */
export async function startConnect(url: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<ConnectProcess> {
  const spawned = spawnAdit(['connect', url, '--listen', '127.0.0.1:0', ...args], env)
  try {
    const line = await spawned.waitForLine((l) => l.startsWith('adit: listening on '), 30_000)
    const port = Number(/:(\d+) → /.exec(line)![1])
    return Object.assign(spawned, { port })
  } catch (error) {
    await spawned.stop('SIGKILL')
    throw error
  }
}

/** A TCP server on 127.0.0.1:0 that counts the connections it accepted; allowHalfOpen, as a real service would be. */
export async function startTcpService(
  onConnection: (socket: Socket) => void,
): Promise<{ port: number; server: Server; accepted: () => number; close(): Promise<void> }> {
  let accepted = 0
  const sockets = new Set<Socket>()
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    accepted++
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    onConnection(socket)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    server,
    accepted: () => accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}

/** What a client socket saw until it closed: every byte, whether the other side FIN'd, and the error (a reset) if any. */
export interface Received {
  data: Buffer
  ended: boolean
  error: NodeJS.ErrnoException | undefined
}

/** Connects to 127.0.0.1:port with allowHalfOpen; `received` resolves on close. */
export function tcpClient(port: number): Promise<{ socket: Socket; received: Promise<Received> }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true })
    const chunks: Buffer[] = []
    let ended = false
    let error: NodeJS.ErrnoException | undefined
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('end', () => {
      ended = true
    })
    socket.on('error', (e) => {
      error = e
    })
    const received = new Promise<Received>((done) => socket.on('close', () => done({ data: Buffer.concat(chunks), ended, error })))
    socket.once('connect', () => resolve({ socket, received }))
    socket.once('error', reject)
  })
}
