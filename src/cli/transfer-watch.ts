/**
 * The requests in flight, with their byte counts, so the TTY status view can
 * show how a long transfer is going (issue 13: "long transfers show progress").
 * Fed as an ExchangeObserver — only on a TTY, where a person watches: the
 * per-chunk work is one addition, no allocation.
 */
import type { ExchangeEnd, ExchangeObserver, ExchangeStart } from '../agent/exchange-observer.js'
import type { TransferInProgress } from './status-render.js'

interface Transfer {
  label: string
  method: string
  path: string
  startedAt: number
  requestBytes: number
  responseBytes: number
  /** The response's content-length, when it has one. */
  responseLength: number | undefined
}

export class TransferWatch {
  private readonly transfers = new Map<string, Transfer>()
  private readonly now: () => number

  constructor(now: () => number = Date.now) {
    this.now = now
  }

  /** An observer for one tunnel's exchanges; `redactPath` hides secrets in query strings as the request lines do. */
  observerFor(label: string, redactPath: (path: string) => string): ExchangeObserver {
    const transfers = this.transfers
    const now = this.now
    return {
      onRequest(start: ExchangeStart): void {
        transfers.set(start.id, {
          label,
          method: start.method,
          path: redactPath(start.path),
          startedAt: now(),
          requestBytes: 0,
          responseBytes: 0,
          responseLength: undefined,
        })
      },
      onRequestBody(id: string, chunk: Buffer): void {
        const t = transfers.get(id)
        if (t !== undefined) t.requestBytes += chunk.length
      },
      onResponse(id: string, _status: number, headers: Array<[string, string]>): void {
        const t = transfers.get(id)
        if (t === undefined) return
        for (const [name, value] of headers) {
          if (name.toLowerCase() !== 'content-length') continue
          const n = Number(value)
          if (Number.isSafeInteger(n) && n >= 0) t.responseLength = n
        }
      },
      onResponseBody(id: string, chunk: Buffer): void {
        const t = transfers.get(id)
        if (t !== undefined) t.responseBytes += chunk.length
      },
      onEnd(end: ExchangeEnd): void {
        transfers.delete(end.id)
      },
    }
  }

  /** Transfers running for at least `minMs`, oldest first, at most `limit`. */
  running(minMs: number, limit: number): TransferInProgress[] {
    const at = this.now()
    const out: TransferInProgress[] = []
    for (const t of this.transfers.values()) {
      const elapsedMs = at - t.startedAt
      if (elapsedMs < minMs) continue
      out.push({
        label: t.label,
        method: t.method,
        path: t.path,
        elapsedMs,
        requestBytes: t.requestBytes,
        responseBytes: t.responseBytes,
        ...(t.responseLength !== undefined ? { responseLength: t.responseLength } : {}),
      })
      if (out.length === limit) break
    }
    return out
  }

  get size(): number {
    return this.transfers.size
  }
}
