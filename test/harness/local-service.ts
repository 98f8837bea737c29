import { createHash } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** Deterministic bytes: position i holds (i * 31 + 7) & 0xff, so any slice can be checked or hashed. */
const PATTERN = Buffer.alloc(64 * 1024)
for (let i = 0; i < PATTERN.length; i++) PATTERN[i] = (i * 31 + 7) & 0xff

export function patternHash(size: number): string {
  const hash = createHash('sha256')
  let left = size
  while (left > 0) {
    const n = Math.min(left, PATTERN.length)
    hash.update(PATTERN.subarray(0, n))
    left -= n
  }
  return hash.digest('hex')
}

export interface LocalService {
  url: string
  port: number
  server: Server
  /** Requests seen, for assertions. */
  requests: Array<{ method: string; url: string; headers: IncomingMessage['headers']; rawHeaders: string[] }>
  close(): Promise<void>
}

/**
 * The private service of the tests, in-process on port 0:
 * - `/echo…`      JSON: method, url, headers, rawHeaders, body sha256 and length
 * - `/bytes/N`    N pattern bytes streamed in 64 KiB chunks (content-length set; `?chunked` omits it)
 * - `/slow`       never answers
 * - `/status/N`   an empty response with status N
 * - `/headers`    repeated headers, several Set-Cookie, a Location
 * anything else: 200 "ok".
 */
export async function startLocalService(extra?: (req: IncomingMessage, res: ServerResponse) => boolean): Promise<LocalService> {
  const requests: LocalService['requests'] = []
  const server = createServer((req, res) => {
    requests.push({ method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders })
    if (extra?.(req, res)) return
    const url = req.url ?? '/'
    if (url.startsWith('/echo')) {
      const hash = createHash('sha256')
      let length = 0
      req.on('data', (chunk: Buffer) => {
        hash.update(chunk)
        length += chunk.length
      })
      req.on('end', () => {
        const body = JSON.stringify({ method: req.method, url, headers: req.headers, rawHeaders: req.rawHeaders, sha256: hash.digest('hex'), length })
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
        res.end(req.method === 'HEAD' ? undefined : body)
      })
      return
    }
    const bytes = /^\/bytes\/(\d+)/.exec(url)
    if (bytes) {
      const size = Number(bytes[1])
      const headers: Record<string, string | number> = { 'content-type': 'application/octet-stream' }
      if (!url.includes('chunked')) headers['content-length'] = size
      res.writeHead(200, headers)
      let left = size
      const pump = (): void => {
        while (left > 0) {
          const n = Math.min(left, PATTERN.length)
          left -= n
          if (!res.write(PATTERN.subarray(0, n))) {
            res.once('drain', pump)
            return
          }
        }
        res.end()
      }
      pump()
      return
    }
    if (url.startsWith('/slow')) return
    const status = /^\/status\/(\d+)/.exec(url)
    if (status) {
      res.writeHead(Number(status[1]))
      res.end()
      return
    }
    if (url.startsWith('/headers')) {
      res.setHeader('set-cookie', ['a=1; Path=/', 'b=2; Path=/app; HttpOnly', 'c=3'])
      res.setHeader('x-multi', ['one', 'two'])
      res.setHeader('location', '/somewhere?x=1')
      res.setHeader('connection', 'keep-alive, x-hop')
      res.setHeader('x-hop', 'must not pass')
      res.end('headers')
      return
    }
    res.end('ok')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
