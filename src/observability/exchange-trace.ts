import type { IncomingMessage } from 'node:http'
import type { ExchangeSummary } from '../exchange/summary.js'
import { channels, type ServerExchangeMessage } from './channels.js'
import { childContext, endHttpSpan, formatTraceparent, setTraceparent, SpanKind, startSpan, traceContextFrom } from './tracing.js'

export interface ObservedRequest {
  /** The publishing server's origin object (see channels.ts). */
  origin: object
  tunnelId: string
  /** Path and query as the local service will see them. */
  path: string
  /** Absolute public URL (credentials not yet redacted). */
  url: string
  remoteIp: string
}

/**
 * The observability of one public request, set up once before it is
 * dispatched: the trace it belongs to (its `traceparent`, Google's
 * `X-Cloud-Trace-Context`, or a new one) is written into the forwarded
 * `headers` so the local service shares it; a server span starts (a no-op
 * without an OpenTelemetry SDK). The returned callback, called once when
 * the exchange finishes, ends the span, calls `next`, and publishes
 * `adit:server:exchange` for the access log and metrics.
 */
export function observeExchange(
  req: IncomingMessage,
  headers: Array<[string, string]>,
  observed: ObservedRequest,
  next: (summary: ExchangeSummary) => void,
): (summary: ExchangeSummary) => void {
  const parent = traceContextFrom(req.headers)
  const span = startSpan('adit proxy', SpanKind.SERVER, parent, {
    'http.request.method': req.method ?? 'GET',
    'adit.tunnel.id': observed.tunnelId,
    'url.path': observed.path,
  })
  const trace = childContext(span, parent)
  setTraceparent(headers, formatTraceparent(trace))
  return (summary) => {
    endHttpSpan(span, summary.status, summary.error, {
      'adit.request_id': summary.requestId,
      'http.request.body.size': summary.requestBytes,
      'http.response.body.size': summary.responseBytes,
    })
    next(summary)
    if (!channels.serverExchange.hasSubscribers) return
    const message: ServerExchangeMessage = {
      origin: observed.origin,
      summary,
      request: {
        url: observed.url,
        remoteIp: observed.remoteIp,
        userAgent: req.headers['user-agent'],
        protocol: `HTTP/${req.httpVersion}`,
        traceId: trace.traceId,
        spanId: trace.spanId,
        traceSampled: trace.sampled,
      },
    }
    channels.serverExchange.publish(message)
  }
}
