import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http'
import type { IncomingHttpHeaders } from 'node:http2'
import type { Instance } from './instances.js'

/** Hop-by-hop response headers the front end does not pass back to the client. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'trailer', 'te'])

/** A one-line plain-text answer from the front end itself (413, 429, 503, 504 …), and the connection closed after. */
export function frontEndAnswer(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  const body = `${status} ${message}\n`
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    connection: 'close',
    'x-cloud-run-emulator': 'front-end',
  })
  res.end(body)
}

function responseHeaders(raw: readonly string[]): string[] {
  const out: string[] = []
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!
    if (HOP_BY_HOP.has(name.toLowerCase()) || name.startsWith(':')) continue
    out.push(name, raw[i + 1]!)
  }
  return out
}

export interface Forwarding {
  /** Cuts the exchange at once: the upstream request is destroyed, the client gets `504` if nothing was sent yet, else a reset connection. */
  cut(status: number, message: string): void
}

/**
 * Sends one request to `instance` and streams the answer back. In HTTP/1
 * mode a body that grows beyond `maxBodyBytes` ends the exchange with `413`
 * (the front end refuses a declared one before choosing an instance).
 */
export function forward(
  req: IncomingMessage,
  res: ServerResponse,
  instance: Instance,
  headers: OutgoingHttpHeaders,
  mode: { http2: boolean; maxBodyBytes: number; extraResponseHeaders: string[]; onHead?: (status: number, raw: string[]) => void },
): Forwarding {
  let upstream: { destroy(): void } | undefined
  let finished = false
  const cut = (status: number, message: string): void => {
    if (finished) return
    finished = true
    upstream?.destroy()
    req.unpipe()
    if (res.headersSent) res.destroy()
    else frontEndAnswer(res, status, message)
  }
  res.once('close', () => {
    if (!res.writableFinished) upstream?.destroy()
    finished = true
  })
  const respond = (status: number, raw: string[]): void => {
    if (finished) return
    mode.onHead?.(status, raw)
    res.writeHead(status, [...responseHeaders(raw), ...mode.extraResponseHeaders])
  }
  if (mode.http2) {
    const { host, ...rest } = headers
    const stream = instance.session().request({ ...rest, ':method': req.method!, ':path': req.url!, ':authority': String(host ?? '') })
    upstream = { destroy: () => stream.close(0x8) }
    stream.on('response', (h: IncomingHttpHeaders) => {
      const raw: string[] = []
      for (const [name, value] of Object.entries(h)) for (const v of [value ?? []].flat()) raw.push(name, String(v))
      respond(Number(h[':status']), raw)
      stream.pipe(res)
    })
    stream.on('error', () => cut(503, 'the instance failed to answer'))
    stream.on('close', () => {
      if (!res.headersSent && !finished) cut(503, 'the instance closed the request')
      else if (!res.writableEnded && !finished) res.destroy()
    })
    req.pipe(stream)
    return { cut }
  }
  const upstreamReq = httpRequest({ host: '127.0.0.1', port: instance.port, method: req.method, path: req.url, headers, agent: instance.agent })
  upstream = upstreamReq
  upstreamReq.on('response', (r: IncomingMessage) => {
    respond(r.statusCode!, r.rawHeaders)
    r.pipe(res)
    r.on('aborted', () => res.destroy())
    r.on('error', () => res.destroy())
  })
  upstreamReq.on('error', () => cut(503, 'the instance failed to answer'))
  let seen = 0
  req.on('data', (chunk: Buffer) => {
    seen += chunk.length
    if (seen > mode.maxBodyBytes && !finished) cut(413, `request body is over the ${mode.maxBodyBytes}-byte HTTP/1 limit (deploy with --use-http2 to lift it)`)
  })
  req.pipe(upstreamReq)
  return { cut }
}
