import type { Agent, ClientRequest, IncomingMessage } from 'node:http'
import { http } from '../http/node-http.js'
import type { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import { Dispatcher as DispatcherBase } from '../http/undici-parts.js'
import { trailerObject } from '../http/trailer-fields.js'
import type { RequestTrailerSource } from './h2-origin.js'

/**
 * An `http://` service, for the requests that announce trailers (a `Trailer`
 * header): undici's HTTP/1.1 client cannot send a request trailer section,
 * node:http can (`addTrailers`, in the last chunk). Same handler contract as
 * the undici pool (classic handler, `onData` false pauses), so the forwarder
 * drives it unchanged; every other request keeps the pool.
 */
export class TrailerOrigin extends DispatcherBase {
  private readonly agent: Agent
  private readonly url: URL

  constructor(url: URL, connections: number) {
    super()
    this.url = url
    this.agent = new http.Agent({ keepAlive: true, maxSockets: connections })
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const h = handler as Dispatcher.DispatchHandler & RequestTrailerSource
    const headers = Array.isArray(options.headers) ? [...(options.headers as string[])] : []
    // Given a raw list, node:http adds no Host of its own (undici does: the --local host, under --host-header rewrite).
    if (!hasHost(headers)) headers.push('host', this.url.host)
    const req = http.request({
      host: this.url.hostname.replace(/^\[|\]$/g, ''),
      port: this.url.port || 80,
      method: options.method,
      path: options.path,
      headers,
      agent: this.agent,
    })
    new TrailerExchange(req, h)
    const body = options.body as Readable | Buffer | string | null | undefined
    if (body === null || body === undefined || typeof body === 'string' || Buffer.isBuffer(body)) {
      req.end(body ?? undefined)
      return true
    }
    body.pipe(req, { end: false })
    body.once('end', () => {
      const trailers = h.requestTrailers?.() ?? null
      if (trailers !== null) req.addTrailers(trailerObject(trailers))
      req.end()
    })
    return true
  }

  override close(): Promise<void> {
    this.agent.destroy()
    return Promise.resolve()
  }

  override destroy(): Promise<void> {
    this.agent.destroy()
    return Promise.resolve()
  }
}

/** One request: node:http's events → the handler, listeners bound once (none per chunk). */
class TrailerExchange {
  private response: IncomingMessage | null = null
  private done = false

  constructor(
    private readonly req: ClientRequest,
    private readonly handler: Dispatcher.DispatchHandler,
  ) {
    handler.onConnect?.(this.abort)
    req.on('response', this.onResponse)
    req.on('error', this.onError)
  }

  /** undici's contract: an aborted request still ends with onError(reason) (its request() settles on it). */
  private readonly abort = (reason?: Error): void => {
    this.req.destroy()
    this.onError(reason ?? Object.assign(new Error('request aborted'), { code: 'UND_ERR_ABORTED' }))
  }

  private readonly resume = (): void => {
    this.response?.resume()
  }

  private readonly onResponse = (res: IncomingMessage): void => {
    if (this.done) return void res.resume()
    this.response = res
    this.handler.onHeaders?.(res.statusCode ?? 0, res.rawHeaders as unknown as Buffer[], this.resume, res.statusMessage ?? '')
    res.on('data', this.onData)
    res.on('end', this.onEnd)
    res.on('error', this.onError)
    res.on('aborted', this.onAborted)
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.done) return
    if (this.handler.onData?.(chunk) === false) this.response?.pause()
  }

  private readonly onEnd = (): void => {
    if (this.done) return
    this.done = true
    this.handler.onComplete?.(this.response?.rawTrailers ?? [])
  }

  private readonly onAborted = (): void => {
    this.onError(Object.assign(new Error('the local service cut the response'), { code: 'ECONNRESET' }))
  }

  private readonly onError = (error: Error): void => {
    if (this.done) return
    this.done = true
    this.handler.onError?.(error)
  }
}

function hasHost(raw: string[]): boolean {
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === 4 && raw[i]!.toLowerCase() === 'host') return true
  return false
}
