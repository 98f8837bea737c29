/**
 * The inspector's memory: the last N exchanges the agent forwarded, with their
 * bodies kept within two byte caps. It is an ExchangeObserver, so the agent
 * feeds it directly; the inspector server reads it and relays its events.
 *
 * Memory stays bounded whatever goes through: at most `maxExchanges` rows
 * (the oldest row leaves when a new one comes), at most `maxBodyBytes` kept of
 * any one body (the rest is counted, not kept, and the body is marked
 * truncated), and at most `maxTotalBodyBytes` kept across all bodies (the
 * oldest bodies are dropped first, their rows stay, marked evicted).
 *
 * The body callbacks sit on the agent's hot path: a Map lookup and a copy,
 * no events, no allocation beyond the copy. Events fire per exchange (added
 * at the start, updated at the response head and at the end, removed when a
 * row leaves the ring), never per chunk.
 */
import { EventEmitter } from 'node:events'
import type { ExchangeEnd, ExchangeObserver, ExchangeStart } from '../agent/exchange-observer.js'
import { CapturedBody } from './captured-body.js'
import { InspectorError, InspectorErrorCode } from './errors.js'

export interface RequestLogOptions {
  /** Rows kept; the oldest leaves when a new one comes. */
  maxExchanges: number
  /** Body bytes kept across every row; the oldest bodies are dropped first. */
  maxTotalBodyBytes: number
  /** Bytes kept of any one body; the rest is counted and the body marked truncated. */
  maxBodyBytes: number
}

export const requestLogDefaults: RequestLogOptions = {
  maxExchanges: 500,
  maxTotalBodyBytes: 16 * 1024 * 1024,
  maxBodyBytes: 1024 * 1024,
}

export function validateRequestLogOptions(input: Partial<RequestLogOptions> = {}): RequestLogOptions {
  const options = { ...requestLogDefaults, ...input }
  for (const name of ['maxExchanges', 'maxTotalBodyBytes', 'maxBodyBytes'] as const) {
    const value = options[name]
    if (!Number.isSafeInteger(value) || value < (name === 'maxExchanges' ? 1 : 0)) {
      throw new InspectorError(
        InspectorErrorCode.BAD_OPTION,
        `RequestLog option ${name} must be a non-negative integer (maxExchanges at least 1), got ${String(value)}`,
      )
    }
  }
  if (options.maxBodyBytes > options.maxTotalBodyBytes) {
    throw new InspectorError(
      InspectorErrorCode.BAD_OPTION,
      `RequestLog option maxBodyBytes (${options.maxBodyBytes}) must not exceed maxTotalBodyBytes (${options.maxTotalBodyBytes})`,
    )
  }
  return options
}

/** pending: no response head yet; responding: head seen, body flowing; complete / failed: ended. */
export type ExchangeState = 'pending' | 'responding' | 'complete' | 'failed'

/** One exchange as the log holds it. `id` is the log's own (short, URL-safe); `exchangeId` is the agent's. */
export interface ExchangeRecord {
  id: string
  seq: number
  exchangeId: string
  requestId: string | undefined
  tunnelId: string
  method: string
  path: string
  requestHeaders: Array<[string, string]>
  startedAt: number
  state: ExchangeState
  /** 0 until the local service answered. */
  status: number
  responseHeaders: Array<[string, string]>
  durationMs: number | undefined
  error: string | undefined
  request: CapturedBody
  response: CapturedBody
  /** The log id of the exchange this one replays, when it is a replay. */
  replayOf: string | undefined
  /** The agent route the request took, when the tunnel has routes. */
  route: string | undefined
  /** The agent rule that answered instead of the local service (a failed webhook check, a status route). */
  answeredBy: string | undefined
}

/** What a list row and an SSE event carry: no headers, no bodies. */
export interface ExchangeSummary {
  id: string
  method: string
  path: string
  status: number
  state: ExchangeState
  durationMs: number | undefined
  startedAt: number
  requestBytes: number
  responseBytes: number
  responseContentType: string | undefined
  error: string | undefined
  replayOf: string | undefined
  route: string | undefined
  answeredBy: string | undefined
}

export interface ExchangeFilter {
  /** '404', '4xx', 'error' (failed or 5xx), 'pending'. */
  status?: string
  /** Exact method, any case. */
  method?: string
  /** Substring of the path, any case. */
  q?: string
  limit?: number
}

/** A whole exchange the log did not see through the observer (a replay the agent did not forward). */
export interface CompletedExchange {
  method: string
  path: string
  requestHeaders: Array<[string, string]>
  requestBody: Buffer
  status: number
  responseHeaders: Array<[string, string]>
  responseBody: Buffer
  /** Full response size when `responseBody` is only the first part of it. */
  responseBytes?: number
  durationMs: number
  tunnelId?: string
  error?: string
}

export interface RequestLogEvents {
  added: [ExchangeSummary]
  updated: [ExchangeSummary]
  removed: [string]
}

export function headerValue(headers: Array<[string, string]>, name: string): string | undefined {
  for (const [key, value] of headers) if (key.toLowerCase() === name) return value
  return undefined
}

export function summarize(record: ExchangeRecord): ExchangeSummary {
  return {
    id: record.id,
    method: record.method,
    path: record.path,
    status: record.status,
    state: record.state,
    durationMs: record.durationMs,
    startedAt: record.startedAt,
    requestBytes: record.request.size,
    responseBytes: record.response.size,
    responseContentType: headerValue(record.responseHeaders, 'content-type'),
    error: record.error,
    replayOf: record.replayOf,
    route: record.route,
    answeredBy: record.answeredBy,
  }
}

export class RequestLog extends EventEmitter<RequestLogEvents> implements ExchangeObserver {
  readonly options: RequestLogOptions
  /** Rows by log id, oldest first (Map keeps insertion order). */
  private readonly records = new Map<string, ExchangeRecord>()
  /** Rows still receiving callbacks, by the agent's exchange id. */
  private readonly live = new Map<string, ExchangeRecord>()
  private nextSeq = 1
  private retained = 0
  private replaySeq = 0

  constructor(options: Partial<RequestLogOptions> = {}) {
    super()
    this.options = validateRequestLogOptions(options)
  }

  /** Body bytes held right now, across all rows (never above maxTotalBodyBytes). */
  get retainedBodyBytes(): number {
    return this.retained
  }

  get size(): number {
    return this.records.size
  }

  onRequest(start: ExchangeStart): void {
    while (this.records.size >= this.options.maxExchanges) this.removeOldest()
    const seq = this.nextSeq++
    const record: ExchangeRecord = {
      id: String(seq),
      seq,
      exchangeId: start.id,
      requestId: start.requestId,
      tunnelId: start.tunnelId,
      method: start.method,
      path: start.path,
      requestHeaders: start.headers.map(([name, value]): [string, string] => [name, value]),
      startedAt: start.startedAt,
      state: 'pending',
      status: 0,
      responseHeaders: [],
      durationMs: undefined,
      error: undefined,
      request: new CapturedBody(this.options.maxBodyBytes),
      response: new CapturedBody(this.options.maxBodyBytes),
      replayOf: undefined,
      route: start.route,
      answeredBy: undefined,
    }
    this.records.set(record.id, record)
    // An id the agent reuses takes over; the older row simply stops updating.
    this.live.set(start.id, record)
    if (this.listenerCount('added') > 0) this.emit('added', summarize(record))
  }

  onRequestBody(id: string, chunk: Buffer): void {
    const record = this.live.get(id)
    if (record !== undefined) this.keep(record, record.request, chunk)
  }

  onResponse(id: string, status: number, headers: Array<[string, string]>): void {
    const record = this.live.get(id)
    if (record === undefined) return
    record.request.seal()
    record.status = status
    record.responseHeaders = headers.map(([name, value]): [string, string] => [name, value])
    record.state = 'responding'
    if (this.listenerCount('updated') > 0) this.emit('updated', summarize(record))
  }

  onResponseBody(id: string, chunk: Buffer): void {
    const record = this.live.get(id)
    if (record !== undefined) this.keep(record, record.response, chunk)
  }

  onEnd(end: ExchangeEnd): void {
    const record = this.live.get(end.id)
    if (record === undefined) return
    this.live.delete(end.id)
    record.request.seal()
    record.response.seal()
    record.status = end.status
    if (record.responseHeaders.length === 0 && end.responseHeaders.length > 0) {
      record.responseHeaders = end.responseHeaders.map(([name, value]): [string, string] => [name, value])
    }
    // The agent's byte counts are authoritative when it has them (it may skip body callbacks).
    if (end.requestBytes > record.request.size) record.request.size = end.requestBytes
    if (end.responseBytes > record.response.size) record.response.size = end.responseBytes
    // Bytes the agent counted but never handed over were not kept either.
    for (const body of [record.request, record.response]) if (body.size > body.kept && !body.evicted) body.truncated = true
    record.durationMs = end.durationMs
    record.error = end.error
    record.answeredBy = end.answeredBy
    record.state = end.error === undefined ? 'complete' : 'failed'
    if (this.listenerCount('updated') > 0) this.emit('updated', summarize(record))
  }

  /**
   * Adds an exchange the observer never saw (a replay the inspector made
   * itself), through the same path as a forwarded one, so caps apply alike.
   */
  record(exchange: CompletedExchange, replayOf?: string): ExchangeRecord {
    const exchangeId = `inspector-replay:${++this.replaySeq}`
    const startedAt = Date.now() - exchange.durationMs
    this.onRequest({
      id: exchangeId,
      requestId: undefined,
      tunnelId: exchange.tunnelId ?? '',
      method: exchange.method,
      path: exchange.path,
      headers: exchange.requestHeaders,
      startedAt,
    })
    const record = this.live.get(exchangeId) as ExchangeRecord
    record.replayOf = replayOf
    if (exchange.requestBody.length > 0) this.onRequestBody(exchangeId, exchange.requestBody)
    this.onResponse(exchangeId, exchange.status, exchange.responseHeaders)
    if (exchange.responseBody.length > 0) this.onResponseBody(exchangeId, exchange.responseBody)
    const end: ExchangeEnd = {
      id: exchangeId,
      status: exchange.status,
      responseHeaders: exchange.responseHeaders,
      requestBytes: exchange.requestBody.length,
      responseBytes: Math.max(exchange.responseBytes ?? 0, exchange.responseBody.length),
      durationMs: exchange.durationMs,
    }
    if (exchange.error !== undefined) end.error = exchange.error
    this.onEnd(end)
    return record
  }

  /** Marks a row as a replay of another (when the agent recorded the replay itself). */
  markReplay(id: string, replayOf: string): void {
    const record = this.records.get(id)
    if (record === undefined) return
    record.replayOf = replayOf
    if (this.listenerCount('updated') > 0) this.emit('updated', summarize(record))
  }

  get(id: string): ExchangeRecord | undefined {
    return this.records.get(id)
  }

  /** The row the agent's exchange id maps to, while it is in the log. */
  findByExchangeId(exchangeId: string): ExchangeRecord | undefined {
    const live = this.live.get(exchangeId)
    if (live !== undefined) return live
    for (const record of this.records.values()) if (record.exchangeId === exchangeId) return record
    return undefined
  }

  /** Rows matching the filter, newest first. */
  list(filter: ExchangeFilter = {}): ExchangeRecord[] {
    const matches = compileFilter(filter)
    const limit = filter.limit ?? Number.POSITIVE_INFINITY
    const out: ExchangeRecord[] = []
    const all = [...this.records.values()]
    for (let i = all.length - 1; i >= 0 && out.length < limit; i--) {
      const record = all[i] as ExchangeRecord
      if (matches(record)) out.push(record)
    }
    return out
  }

  /** Forgets every row (the UI's "clear"). */
  clear(): void {
    while (this.records.size > 0) this.removeOldest()
  }

  private keep(record: ExchangeRecord, body: CapturedBody, chunk: Buffer): void {
    let room = Math.min(chunk.length, this.options.maxBodyBytes - body.kept)
    if (room > 0 && this.retained + room > this.options.maxTotalBodyBytes) this.makeRoom(room, record)
    room = Math.min(room, this.options.maxTotalBodyBytes - this.retained)
    const before = body.kept
    body.append(chunk, room)
    this.retained += body.kept - before
  }

  /** Drops the oldest bodies (never `current`'s) until `bytes` more fit. */
  private makeRoom(bytes: number, current: ExchangeRecord): void {
    const limit = this.options.maxTotalBodyBytes - bytes
    for (const record of this.records.values()) {
      if (this.retained <= limit) return
      if (record === current) continue
      this.retained -= record.request.evict()
      if (this.retained <= limit) return
      this.retained -= record.response.evict()
    }
  }

  private removeOldest(): void {
    const oldest = this.records.values().next().value as ExchangeRecord | undefined
    if (oldest === undefined) return
    this.records.delete(oldest.id)
    if (this.live.get(oldest.exchangeId) === oldest) this.live.delete(oldest.exchangeId)
    this.retained -= oldest.request.kept + oldest.response.kept
    this.emit('removed', oldest.id)
  }
}

function compileFilter(filter: ExchangeFilter): (record: ExchangeRecord) => boolean {
  const method = filter.method?.trim().toUpperCase() || undefined
  const q = filter.q?.trim().toLowerCase() || undefined
  const status = filter.status?.trim().toLowerCase() || undefined
  let statusMatch: ((record: ExchangeRecord) => boolean) | undefined
  if (status === 'error') statusMatch = (r) => r.state === 'failed' || r.status >= 500
  else if (status === 'pending') statusMatch = (r) => r.state === 'pending' || r.state === 'responding'
  else if (status !== undefined && /^[1-5]xx$/.test(status)) {
    const hundred = Number(status[0])
    statusMatch = (r) => Math.floor(r.status / 100) === hundred
  } else if (status !== undefined && /^\d{3}$/.test(status)) {
    const exact = Number(status)
    statusMatch = (r) => r.status === exact
  } else if (status !== undefined) statusMatch = () => false
  return (record) =>
    (method === undefined || record.method.toUpperCase() === method) &&
    (q === undefined || record.path.toLowerCase().includes(q)) &&
    (statusMatch === undefined || statusMatch(record))
}
