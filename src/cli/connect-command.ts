import { createServer, type Socket } from 'node:net'
import { AditError, ConfigError, ErrorCode } from '../errors.js'
import { bridgeConnection, dialTcpTunnel, tcpTunnelUrl, type VisitorCredential } from '../agent/tcp-dial.js'
import { parseListenAddress } from '../observability/metrics-http.js'
import { TcpResetError } from '../http/ws-tcp-duplex.js'

export interface ConnectFlags {
  listen?: string
  stdio?: boolean
  token?: string
  basicAuth?: string
  jwt?: string
}

function credentialFrom(flags: ConnectFlags): VisitorCredential {
  if (flags.basicAuth !== undefined && flags.jwt !== undefined) throw new ConfigError('--basic-auth and --jwt both use the Authorization header; choose one')
  if (flags.basicAuth !== undefined && flags.basicAuth.indexOf(':') < 1) throw new ConfigError('--basic-auth must be user:password')
  return { token: flags.token, basicAuth: flags.basicAuth, jwt: flags.jwt }
}

/**
 * `adit connect <tunnel-url> --listen 127.0.0.1:<port> | --stdio`: the
 * visitor's side of a TCP tunnel. --listen opens a local port and carries
 * each connection it accepts through the tunnel (until SIGINT/SIGTERM);
 * --stdio carries stdin/stdout once (`ssh -o ProxyCommand='adit connect … --stdio'`)
 * and exits when the connection ends.
 */
export async function runConnect(tunnelUrl: string, flags: ConnectFlags): Promise<void> {
  const url = tcpTunnelUrl(tunnelUrl)
  const credential = credentialFrom(flags)
  if ((flags.listen === undefined) === (flags.stdio !== true)) throw new ConfigError('adit connect needs one of --listen <host:port> or --stdio')
  if (flags.stdio === true) return connectStdio(url, credential)
  const address = parseListenAddress('--listen', flags.listen!)
  const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => onVisitor(socket, url, credential))
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(address.port, address.host, () => resolve())
  })
  const bound = server.address() as { address: string; port: number }
  const host = bound.address.includes(':') ? `[${bound.address}]` : bound.address
  process.stdout.write(`adit: listening on ${host}:${bound.port} → ${tunnelUrl} (Ctrl-C to stop)\n`)
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve)
    process.once('SIGINT', resolve)
  })
  // Connections still open are cut by the exit; the port is closed first.
  server.close()
}

/** One accepted local connection: dial the tunnel, then bridge; a refusal resets it, with the reason on stderr. */
function onVisitor(socket: Socket, url: URL, credential: VisitorCredential): void {
  socket.pause()
  socket.on('error', () => {})
  dialTcpTunnel(url, credential).then(
    (remote) => {
      // A connection cannot move to another server instance: one whose server went away (a drain, 1001)
      // ends here, with the reason; the next local connection dials the tunnel again.
      bridgeConnection(socket, remote, (error) => {
        if (error instanceof TcpResetError && / \(1001\)$/.test(error.message))
          process.stderr.write(`adit: a connection ended: ${error.message}; new connections go to another server instance\n`)
      })
      socket.resume()
    },
    (error: Error & { code?: string }) => {
      process.stderr.write(`adit: ${error.message}${error.code ? ` [${error.code}]` : ''}\n`)
      socket.resetAndDestroy()
    },
  )
}

async function connectStdio(url: URL, credential: VisitorCredential): Promise<void> {
  const remote = await dialTcpTunnel(url, credential)
  // stdin's end is the FIN; stdout is never ended (Node's stdout cannot close, so it would never
  // say 'close'): the connection is over when the tunnel's side closed, after both FINs or a reset.
  process.stdin.pipe(remote)
  remote.pipe(process.stdout, { end: false })
  await new Promise<void>((resolve, reject) => {
    remote.once('error', (error: Error) => reject(new AditError(ErrorCode.TCP_CONNECT, 0, `the connection through the tunnel was reset: ${error.message}`)))
    remote.once('close', () => resolve())
  })
  process.stdin.unpipe(remote)
  process.stdin.pause()
  // stdout to a pipe is asynchronous: what it still holds is flushed before bin.ts exits.
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()))
}
