import { timingSafeEqual, createHash } from 'node:crypto'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { http } from '../http/node-http.js'
import type { AddressInfo } from 'node:net'
import { ConfigError } from '../errors.js'

export interface MetricsSource {
  render(): Promise<{ contentType: string; body: string }>
}

function sameSecret(a: string, b: string): boolean {
  // Hash first so lengths match and the comparison time says nothing about the token.
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest())
}

/**
 * Answers a scrape: the exposition text, or 401 when `token` is set and the
 * request lacks `Authorization: Bearer <token>`.
 */
export function answerMetrics(req: IncomingMessage, res: ServerResponse, source: MetricsSource, token: string | undefined): void {
  if (token !== undefined) {
    const auth = req.headers.authorization
    const given = auth?.startsWith('Bearer ') ? auth.slice(7).trim() : ''
    if (!sameSecret(given, token)) {
      const body = 'metrics need Authorization: Bearer <ADIT_METRICS_TOKEN>\n'
      res.writeHead(401, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), 'www-authenticate': 'Bearer' })
      res.end(body)
      return
    }
  }
  source.render().then(
    ({ contentType, body }) => {
      res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' })
      res.end(req.method === 'HEAD' ? undefined : body)
    },
    () => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' })
      res.end('metrics collection failed\n')
    },
  )
}

/** `host:port` (IPv6 as `[::1]:9464`) → its parts. */
export function parseListenAddress(name: string, value: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(value.trim())
  const port = match ? Number(match[3]) : NaN
  if (!match || port > 65535) throw new ConfigError(`${name} must be host:port, e.g. 127.0.0.1:9464, got ${JSON.stringify(value)}`)
  return { host: (match[1] ?? match[2])!, port }
}

export interface MetricsServer {
  url: string
  close(): Promise<void>
}

/** A small HTTP server answering `GET /metrics` only (the agent's `--metrics-addr`). */
export async function startMetricsServer(address: { host: string; port: number }, source: MetricsSource, token?: string): Promise<MetricsServer> {
  const server: Server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (path === '/metrics') return answerMetrics(req, res, source, token)
    res.writeHead(404, { 'content-type': 'text/plain' })
    res.end('only /metrics here\n')
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(address.port, address.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  const host = address.host.includes(':') ? `[${address.host}]` : address.host
  return {
    url: `http://${host}:${port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
