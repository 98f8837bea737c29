import { ChannelName, subscribeFor, type AgentExchangeMessage, type AgentExchangeStartMessage } from './channels.js'
import { endHttpSpan, SpanKind, startSpan, traceContextFrom, type TraceContext } from './tracing.js'
import type { Span } from '@opentelemetry/api'

/**
 * One client span per request the agent forwards to its local service,
 * child of the trace in the request's `traceparent` (which the server always
 * sets). Fed by `adit:agent:exchange:start` / `adit:agent:exchange`; a no-op
 * unless an OpenTelemetry SDK is registered. Returns the unsubscribe function.
 */
export function subscribeAgentTracing(origin: object): () => void {
  const spans = new Map<string, Span>()
  const offStart = subscribeFor<AgentExchangeStartMessage>(ChannelName.AGENT_EXCHANGE_START, origin, ({ start }) => {
    const headers: Record<string, string> = {}
    for (const [name, value] of start.headers) {
      const lower = name.toLowerCase()
      if (lower === 'traceparent' || lower === 'x-cloud-trace-context') headers[lower] = value
    }
    const parent: TraceContext = traceContextFrom(headers)
    const span = startSpan('adit forward', SpanKind.CLIENT, parent, {
      'http.request.method': start.method,
      'url.path': start.path,
      'adit.tunnel.id': start.tunnelId,
      ...(start.requestId === undefined ? {} : { 'adit.request_id': start.requestId }),
    })
    if (span.isRecording()) spans.set(start.id, span)
    else span.end()
  })
  const offEnd = subscribeFor<AgentExchangeMessage>(ChannelName.AGENT_EXCHANGE, origin, ({ end }) => {
    const span = spans.get(end.id)
    if (span === undefined) return
    spans.delete(end.id)
    endHttpSpan(span, end.status, end.error, { 'http.request.body.size': end.requestBytes, 'http.response.body.size': end.responseBytes })
  })
  return () => {
    offStart()
    offEnd()
    for (const span of spans.values()) span.end()
    spans.clear()
  }
}
