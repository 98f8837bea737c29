import { randomFillSync } from 'node:crypto'
import { context, SpanKind, SpanStatusCode, trace, TraceFlags, type Attributes, type Span } from '@opentelemetry/api'

/**
 * W3C trace context (https://www.w3.org/TR/trace-context/) for the proxy:
 * read `traceparent` (or Google's `X-Cloud-Trace-Context`), start one when
 * the public request has none, and open spans through `@opentelemetry/api`
 * — no-ops unless the application registered an SDK (docs/observability.md).
 */

/** The tracer every adit span comes from. */
export function tracer() {
  return trace.getTracer('adit')
}

export interface TraceContext {
  /** 32 lowercase hex digits. */
  traceId: string
  /** 16 lowercase hex digits: the span the next hop should name as its parent. */
  spanId: string
  sampled: boolean
  /** True when adit started the trace (the public request carried none). */
  generated: boolean
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$/
const ZERO_TRACE = '00000000000000000000000000000000'
const ZERO_SPAN = '0000000000000000'

/** Parses a `traceparent` header; null when absent or invalid (all-zero ids, version ff). */
export function parseTraceparent(value: string | undefined): TraceContext | null {
  if (value === undefined) return null
  const match = TRACEPARENT.exec(value.trim().toLowerCase())
  if (!match) return null
  const [, version, traceId, spanId, flags] = match as unknown as [string, string, string, string, string]
  if (version === 'ff' || traceId === ZERO_TRACE || spanId === ZERO_SPAN) return null
  // Version 00 has exactly four fields; a longer value is only valid for later versions.
  if (version === '00' && value.trim().length !== 55) return null
  return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1, generated: false }
}

/** Parses `X-Cloud-Trace-Context: TRACE_ID/SPAN_ID;o=1` (span id in decimal). */
export function parseCloudTraceContext(value: string | undefined): TraceContext | null {
  if (value === undefined) return null
  const match = /^([0-9a-fA-F]{32})(?:\/(\d{1,20}))?(?:;o=([01]))?$/.exec(value.trim())
  if (!match) return null
  const traceId = match[1]!.toLowerCase()
  if (traceId === ZERO_TRACE) return null
  let spanId = randomSpanId()
  if (match[2] !== undefined) {
    const n = BigInt(match[2])
    if (n > 0n && n < 2n ** 64n) spanId = n.toString(16).padStart(16, '0')
  }
  return { traceId, spanId, sampled: match[3] === '1', generated: false }
}

/**
 * Trace and span ids must be random (W3C Trace Context §3.2.2.3), not
 * secret: they come from a pool refilled 4 KiB at a time, since one CSPRNG
 * call per request cost ~3% of the server's CPU.
 */
const pool = Buffer.allocUnsafe(4096)
let poolOffset = pool.length

function randomHex(bytes: number): string {
  if (poolOffset + bytes > pool.length) {
    randomFillSync(pool)
    poolOffset = 0
  }
  const hex = pool.toString('hex', poolOffset, poolOffset + bytes)
  poolOffset += bytes
  return hex
}

export function randomSpanId(): string {
  return randomHex(8)
}

/** A new trace (adit is its root); not sampled, so a downstream tracer decides for itself. */
export function newTraceContext(): TraceContext {
  return { traceId: randomHex(16), spanId: randomSpanId(), sampled: false, generated: true }
}

export function formatTraceparent(ctx: Pick<TraceContext, 'traceId' | 'spanId' | 'sampled'>): string {
  return `00-${ctx.traceId}-${ctx.spanId}-${ctx.sampled ? '01' : '00'}`
}

/**
 * The trace a public request belongs to: its `traceparent`, else Google's
 * `X-Cloud-Trace-Context` (what Cloud Run's front end adds), else a new one.
 */
export function traceContextFrom(headers: Record<string, string | string[] | undefined>): TraceContext {
  const first = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v)
  return parseTraceparent(first(headers['traceparent'])) ?? parseCloudTraceContext(first(headers['x-cloud-trace-context'])) ?? newTraceContext()
}

/**
 * Starts a span whose parent is `parent` (a remote span context). With no SDK
 * registered the API hands back a non-recording span that carries the parent's
 * ids; with one, the span gets its own id, which becomes the next hop's parent.
 */
export function startSpan(name: string, kind: SpanKind, parent: TraceContext, attributes: Attributes): Span {
  const parentContext = trace.setSpanContext(context.active(), {
    traceId: parent.traceId,
    spanId: parent.spanId,
    traceFlags: parent.sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
    isRemote: true,
  })
  return tracer().startSpan(name, { kind, attributes }, parentContext)
}

/** The context the next hop should see: the span's own when it records, else `parent` unchanged. */
export function childContext(span: Span, parent: TraceContext): TraceContext {
  if (!span.isRecording()) return parent
  const sc = span.spanContext()
  return { traceId: sc.traceId, spanId: sc.spanId, sampled: (sc.traceFlags & TraceFlags.SAMPLED) === TraceFlags.SAMPLED, generated: parent.generated }
}

/** Ends an HTTP span with its status (errors for 5xx, as the HTTP semantic conventions say for servers). */
export function endHttpSpan(span: Span, status: number, error: string | undefined, attributes: Attributes = {}): void {
  if (!span.isRecording()) {
    span.end()
    return
  }
  span.setAttributes({ 'http.response.status_code': status, ...attributes })
  if (status >= 500 || status === 0) span.setStatus({ code: SpanStatusCode.ERROR, ...(error ? { message: error } : {}) })
  span.end()
}

/** Replaces (or adds) the `traceparent` pair in forwarded request headers. */
export function setTraceparent(headers: Array<[string, string]>, value: string): void {
  for (let i = 0; i < headers.length; i++) {
    if (headers[i]![0].length === 11 && headers[i]![0].toLowerCase() === 'traceparent') {
      headers[i] = [headers[i]![0], value]
      return
    }
  }
  headers.push(['traceparent', value])
}

export { SpanKind }
