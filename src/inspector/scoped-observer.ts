/**
 * Several tunnels in one process share one inspector log, but each tunnel's
 * forwarder numbers its exchanges from 1. This observer puts a per-tunnel
 * prefix on every id before passing it on, so ids stay unique in the shared
 * log. The prefixed id is made once per exchange (a Map lookup per chunk,
 * no string building on the body path).
 *
 * @example
 * const log = new RequestLog()
 * const web = await connect({ server, local: 'http://127.0.0.1:3000', observer: new ScopedObserver('web:', log) })
 * const api = await connect({ server, local: 'http://127.0.0.1:4000', observer: new ScopedObserver('api:', log) })
 */
import type { ExchangeEnd, ExchangeObserver, ExchangeStart } from '../agent/exchange-observer.js'

export class ScopedObserver implements ExchangeObserver {
  readonly prefix: string
  private readonly inner: ExchangeObserver
  private readonly ids = new Map<string, string>()

  constructor(prefix: string, inner: ExchangeObserver) {
    this.prefix = prefix
    this.inner = inner
  }

  /** The id the inner observer sees for the tunnel's exchange `id`. */
  scoped(id: string): string {
    return this.ids.get(id) ?? this.prefix + id
  }

  onRequest(start: ExchangeStart): void {
    const id = this.prefix + start.id
    this.ids.set(start.id, id)
    this.inner.onRequest({ ...start, id })
  }

  onRequestBody(id: string, chunk: Buffer): void {
    this.inner.onRequestBody?.(this.scoped(id), chunk)
  }

  onResponse(id: string, status: number, headers: Array<[string, string]>): void {
    this.inner.onResponse?.(this.scoped(id), status, headers)
  }

  onResponseBody(id: string, chunk: Buffer): void {
    this.inner.onResponseBody?.(this.scoped(id), chunk)
  }

  onEnd(end: ExchangeEnd): void {
    const id = this.scoped(end.id)
    this.ids.delete(end.id)
    this.inner.onEnd({ ...end, id })
  }
}
