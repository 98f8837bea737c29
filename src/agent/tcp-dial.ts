import type { Duplex } from 'node:stream'
import WebSocket from 'ws'
import { AditError, ConfigError, ErrorCode } from '../errors.js'
import { abortSocket } from '../http/abort-socket.js'
import { TCP_SUBPROTOCOL, TcpResetError, WsTcpDuplex } from '../http/ws-tcp-duplex.js'
import { VISITOR_TOKEN_HEADER } from '../exchange/visitor-token.js'

/** How a visitor proves it may use a TCP tunnel: one of these (SECURITY.md, "TCP tunnels"). */
export interface VisitorCredential {
  /** The token the tunnel's agent printed (`Adit-Visitor-Token`). */
  token?: string | undefined
  /** `user:password` of the tunnel's basic-auth rule. */
  basicAuth?: string | undefined
  /** A token from the issuer of the tunnel's JWT rule. */
  jwt?: string | undefined
}

/** The WebSocket URL of a tunnel's public URL (`http://host/pub/{id}/` → `ws://host/pub/{id}/`). */
export function tcpTunnelUrl(publicUrl: string): URL {
  let url: URL
  try {
    url = new URL(publicUrl)
  } catch (cause) {
    throw new ConfigError(`the tunnel URL must be the public URL its agent printed (https://…), got ${JSON.stringify(publicUrl)}`, { cause })
  }
  if (url.protocol === 'http:') url.protocol = 'ws:'
  else if (url.protocol === 'https:') url.protocol = 'wss:'
  else if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new ConfigError(`the tunnel URL must be http(s)://, got ${url.protocol}//`)
  return url
}

/**
 * Opens one TCP connection through a TCP tunnel: a WebSocket to its public
 * URL speaking `adit.tcp.v1`. Resolves once the agent's local service took
 * the connection (the server answers 101 only then); rejects with what the
 * server said otherwise (401 no credential, 502 service unreachable …).
 */
export function dialTcpTunnel(url: URL, credential: VisitorCredential, options: { signal?: AbortSignal } = {}): Promise<WsTcpDuplex> {
  const headers: Record<string, string> = {}
  if (credential.token !== undefined && credential.token !== '') headers[VISITOR_TOKEN_HEADER] = credential.token
  if (credential.basicAuth !== undefined) headers.authorization = `Basic ${Buffer.from(credential.basicAuth).toString('base64')}`
  else if (credential.jwt !== undefined) headers.authorization = `Bearer ${credential.jwt}`
  const ws = new WebSocket(url, [TCP_SUBPROTOCOL], { headers, perMessageDeflate: false, maxPayload: 1024 * 1024, handshakeTimeout: 30_000 })
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      ws.terminate()
      reject(new AditError(ErrorCode.TCP_CONNECT, 0, 'connect aborted'))
    }
    options.signal?.addEventListener('abort', onAbort, { once: true })
    ws.once('unexpected-response', (_req, res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        if (body.length < 2000) body += chunk
      })
      res.on('end', () => {
        ws.terminate()
        const code = res.headers['x-adit-error']
        const text = body.trim() || `${res.statusCode} ${res.statusMessage ?? ''}`
        reject(
          new AditError(
            ErrorCode.TCP_CONNECT,
            res.statusCode ?? 0,
            `the tunnel refused the connection: ${text}${typeof code === 'string' ? ` [${code}]` : ''}`,
          ),
        )
      })
    })
    ws.once('error', (error) => {
      options.signal?.removeEventListener('abort', onAbort)
      reject(new AditError(ErrorCode.TCP_CONNECT, 0, `cannot reach ${url.origin}: ${error.message}`, { cause: error }))
    })
    ws.once('open', () => {
      options.signal?.removeEventListener('abort', onAbort)
      if (ws.protocol !== TCP_SUBPROTOCOL) {
        ws.terminate()
        return reject(new AditError(ErrorCode.TCP_CONNECT, 0, `${url.origin} did not speak ${TCP_SUBPROTOCOL}: is it an adit server with TCP tunnels?`))
      }
      resolve(new WsTcpDuplex(ws))
    })
  })
}

/**
 * A local connection and a tunnelled one as one: bytes both ways with
 * backpressure (pipe), a FIN each way, a reset each way. `done` runs once,
 * when both are closed.
 */
export function bridgeConnection(local: Duplex, remote: Duplex, done?: (error: Error | undefined) => void): void {
  let finished = false
  const finish = (error: Error | undefined): void => {
    if (finished) return
    finished = true
    done?.(error)
  }
  local.pipe(remote)
  remote.pipe(local)
  local.on('error', (error: NodeJS.ErrnoException) => {
    remote.destroy(new TcpResetError(`the visitor's socket ${error.code === 'ECONNRESET' ? 'was reset' : `failed: ${error.code ?? error.message}`}`))
    finish(error)
  })
  remote.on('error', (error: Error) => {
    abortSocket(local)
    finish(error)
  })
  local.on('close', () => {
    // Closed without both FINs through: the other side must not wait for the rest.
    if (!(local.readableEnded && local.writableFinished) && !remote.destroyed) remote.destroy(new TcpResetError("the visitor's socket closed"))
  })
  remote.on('close', () => {
    if (!remote.readableEnded || !remote.writableFinished) abortSocket(local)
    if (local.destroyed) finish(undefined)
    else local.once('close', () => finish(undefined))
  })
}
