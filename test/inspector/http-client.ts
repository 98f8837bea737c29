/**
 * Test helpers: a plain node:http client (fetch will not send a custom Host
 * header, and the guard tests need one) and a server-sent-events reader.
 */
import { request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http'

/** Inspectors the tests started: origin → token, sent as X-Adit-Inspector-Token unless a request names its own. */
const tokens = new Map<string, string>()

/** Requests to `inspector.baseUrl` carry its token from now on (each run of an inspector has its own). */
export function useInspectorToken(inspector: { baseUrl: string; token: string }): void {
  tokens.set(new URL(inspector.baseUrl).origin, inspector.token)
}

function withToken(url: string, headers: Record<string, string> = {}): Record<string, string> {
  const token = tokens.get(new URL(url).origin)
  if (token === undefined || Object.keys(headers).some((name) => name.toLowerCase() === 'x-adit-inspector-token')) return headers
  return { ...headers, 'x-adit-inspector-token': token }
}

export interface Reply {
  status: number
  headers: IncomingHttpHeaders
  text: string
  json<T = unknown>(): T
}

export function httpRequest(url: string, init: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: init.method ?? 'GET', headers: withToken(url, init.headers), agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: <T>() => JSON.parse(text) as T })
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(init.body)
  })
}

export interface ServerEvent {
  event: string
  data: string
}

/** Reads an event stream; `next(name)` resolves with the next event of that name. */
export class EventReader {
  private buffer = ''
  private readonly events: ServerEvent[] = []
  private waiter: (() => void) | undefined
  private response: IncomingMessage | undefined
  private readonly request: ReturnType<typeof request>
  readonly opened: Promise<void>

  constructor(url: string) {
    this.request = request(url, { headers: withToken(url, { accept: 'text/event-stream' }), agent: false })
    this.opened = new Promise((resolve, reject) => {
      this.request.on('response', (res) => {
        this.response = res
        res.setEncoding('utf8')
        res.on('data', (text: string) => this.push(text))
        resolve()
      })
      this.request.on('error', reject)
    })
    this.request.end()
  }

  /** Resolves when the server ends the stream. */
  ended(): Promise<void> {
    return new Promise((resolve) => {
      if (this.response === undefined || this.response.complete || this.response.destroyed) return resolve()
      this.response.on('close', () => resolve())
    })
  }

  async next(name: string, timeoutMs = 2000): Promise<ServerEvent> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const at = this.events.findIndex((e) => e.event === name)
      if (at >= 0) return this.events.splice(at, 1)[0] as ServerEvent
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`no "${name}" event within ${timeoutMs} ms`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.waiter = () => {
          clearTimeout(timer)
          resolve()
        }
      })
    }
  }

  close(): void {
    this.request.destroy()
  }

  private push(text: string): void {
    this.buffer += text
    let end: number
    while ((end = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, end)
      this.buffer = this.buffer.slice(end + 2)
      let event = 'message'
      const data: string[] = []
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7)
        else if (line.startsWith('data: ')) data.push(line.slice(6))
      }
      if (data.length > 0) this.events.push({ event, data: data.join('\n') })
    }
    const waiter = this.waiter
    this.waiter = undefined
    waiter?.()
  }
}
