/**
 * Test helper: plays one exchange into an ExchangeObserver the way the
 * agent's forwarder does (start, request chunks, head, response chunks, end).
 */
import type { ExchangeObserver } from '../../src/agent/exchange-observer.js'

export interface FedExchange {
  id: string
  method?: string
  path?: string
  headers?: Array<[string, string]>
  requestBody?: Buffer
  status?: number
  responseHeaders?: Array<[string, string]>
  responseBody?: Buffer
  /** Bodies are handed over in chunks of this size, as views into the given buffers. */
  chunkSize?: number
  durationMs?: number
  error?: string
  /** Stop after the request (no response, no end): an exchange still in flight. */
  inFlight?: boolean
}

export function feedExchange(observer: ExchangeObserver, exchange: FedExchange): void {
  const requestBody = exchange.requestBody ?? Buffer.alloc(0)
  const responseBody = exchange.responseBody ?? Buffer.alloc(0)
  const chunkSize = exchange.chunkSize ?? 16 * 1024
  const responseHeaders = exchange.responseHeaders ?? [['content-type', 'text/plain; charset=utf-8']]
  observer.onRequest({
    id: exchange.id,
    requestId: `req-${exchange.id}`,
    tunnelId: 'tunnel-test',
    method: exchange.method ?? 'GET',
    path: exchange.path ?? '/',
    headers: exchange.headers ?? [['host', 'localhost']],
    startedAt: Date.now(),
  })
  for (let at = 0; at < requestBody.length; at += chunkSize) observer.onRequestBody?.(exchange.id, requestBody.subarray(at, at + chunkSize))
  if (exchange.inFlight === true) return
  const status = exchange.status ?? 200
  observer.onResponse?.(exchange.id, status, responseHeaders)
  for (let at = 0; at < responseBody.length; at += chunkSize) observer.onResponseBody?.(exchange.id, responseBody.subarray(at, at + chunkSize))
  observer.onEnd({
    id: exchange.id,
    status,
    responseHeaders,
    requestBytes: requestBody.length,
    responseBytes: responseBody.length,
    durationMs: exchange.durationMs ?? 3,
    ...(exchange.error === undefined ? {} : { error: exchange.error }),
  })
}
