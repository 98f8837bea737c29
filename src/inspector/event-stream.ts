/**
 * Server-sent events for the live list: every `added`, `updated` and
 * `removed` from the log goes to every open /api/events response.
 *
 * A browser tab that stops reading must not make the inspector buffer
 * without end: a client whose unsent output passes `maxBufferedBytes` is
 * dropped (the browser's EventSource reconnects and reloads the list). One
 * heartbeat timer serves all clients, so proxies and idle sockets keep the
 * stream open.
 */
import type { ServerResponse } from 'node:http'
import type { ExchangeSummary, RequestLog } from './request-log.js'

export interface EventStreamOptions {
  heartbeatMs: number
  maxBufferedBytes: number
}

export class EventStream {
  private readonly clients = new Set<ServerResponse>()
  private readonly heartbeat: NodeJS.Timeout
  private readonly onAdded = (row: ExchangeSummary): void => this.broadcast('added', JSON.stringify(row))
  private readonly onUpdated = (row: ExchangeSummary): void => this.broadcast('updated', JSON.stringify(row))
  private readonly onRemoved = (id: string): void => this.broadcast('removed', JSON.stringify({ id }))

  constructor(
    private readonly log: RequestLog,
    private readonly options: EventStreamOptions,
  ) {
    this.heartbeat = setInterval(() => this.write(': heartbeat\n\n'), options.heartbeatMs)
    this.heartbeat.unref()
  }

  get clientCount(): number {
    return this.clients.size
  }

  /** Takes over `res` as an event stream until the client goes away or close() is called. */
  attach(res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    })
    // Tells the client how long to wait before reconnecting, and flushes the head at once.
    res.write('retry: 1000\n\n')
    // The log's events are listened to only while someone watches: with no browser open, a
    // request costs the inspector no summary and no JSON (RequestLog skips events nobody hears).
    if (this.clients.size === 0) this.listen(true)
    this.clients.add(res)
    res.on('close', () => this.drop(res))
  }

  private listen(on: boolean): void {
    const method = on ? 'on' : 'off'
    this.log[method]('added', this.onAdded)
    this.log[method]('updated', this.onUpdated)
    this.log[method]('removed', this.onRemoved)
  }

  private drop(res: ServerResponse): void {
    if (this.clients.delete(res) && this.clients.size === 0) this.listen(false)
  }

  close(): void {
    clearInterval(this.heartbeat)
    this.listen(false)
    for (const res of this.clients) res.end()
    this.clients.clear()
  }

  private broadcast(event: string, data: string): void {
    if (this.clients.size === 0) return
    this.write(`event: ${event}\ndata: ${data}\n\n`)
  }

  private write(text: string): void {
    for (const res of this.clients) {
      if (res.writableLength > this.options.maxBufferedBytes) {
        this.drop(res)
        res.destroy()
        continue
      }
      res.write(text)
    }
  }
}
