/**
 * Replay: send a logged request to the local service again, optionally with
 * edits, and put the answer in the log as a new row.
 *
 * The agent injects the function that actually sends it (the inspector knows
 * nothing about the local target). Who records the new row depends on that
 * function, and the inspector's `replayIsObserved` option says which:
 * - false (default): the function calls the local service on its own; the
 *   inspector records the result itself with RequestLog.record().
 * - true: the function sends the request through the agent's forwarder,
 *   which reports it to the log like any other exchange; the function returns
 *   that exchange's id (`exchangeId`), and the inspector only marks the row as
 *   a replay. If the id is missing or no longer in the log, the inspector
 *   records the result itself so the user still sees it.
 */
import { InspectorError, InspectorErrorCode } from './errors.js'
import type { ExchangeRecord, RequestLog } from './request-log.js'

export interface ReplayRequest {
  method: string
  /** Path and query, as the local service saw the original. */
  path: string
  headers: Array<[string, string]>
  body: Buffer
  /** The tunnel the original went through, so an agent running several tunnels replays through the right one. */
  tunnelId?: string
}

export interface ReplayResult {
  status: number
  headers: Array<[string, string]>
  body: Buffer
  /** The answer's full size when `body` holds only part of it. */
  bodyBytes?: number
  durationMs: number
  /** The observer id of the exchange the agent recorded for this replay (replayIsObserved: true). */
  exchangeId?: string
}

export type ReplayFunction = (request: ReplayRequest) => Promise<ReplayResult>

/** What "Replay with edits" may change; anything left out is taken from the original. */
export interface ReplayEdits {
  method?: string
  path?: string
  /** Replaces all request headers. */
  headers?: Array<[string, string]> | Record<string, string>
  body?: string
  /** How `body` is encoded; utf8 by default. */
  bodyEncoding?: 'utf8' | 'base64'
}

// Framing and hop-by-hop headers describe the original connection, not the request: the sender sets its own.
const droppedHeaders = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'proxy-connection'])
const tokenPattern = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

function badEdit(message: string): InspectorError {
  return new InspectorError(InspectorErrorCode.BAD_EDIT, message)
}

function isString(value: unknown): value is string {
  return typeof value === 'string'
}

/** Parses and checks the JSON body of POST /api/requests/:id/replay; empty means no edits. */
export function parseReplayEdits(text: string): ReplayEdits {
  if (text.trim() === '') return {}
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (cause) {
    throw new InspectorError(InspectorErrorCode.BAD_EDIT, 'replay edits must be a JSON object', { cause })
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw badEdit('replay edits must be a JSON object')
  const input = value as Record<string, unknown>
  const edits: ReplayEdits = {}
  if (input.method !== undefined) {
    if (!isString(input.method) || !tokenPattern.test(input.method)) throw badEdit('edit "method" must be an HTTP method token')
    edits.method = input.method.toUpperCase()
  }
  if (input.path !== undefined) {
    if (!isString(input.path) || !input.path.startsWith('/') || /[\s\u0000-\u001f]/.test(input.path)) {
      throw badEdit('edit "path" must start with "/" and contain no spaces or control characters')
    }
    edits.path = input.path
  }
  if (input.headers !== undefined) {
    const pairs = Array.isArray(input.headers)
      ? input.headers
      : input.headers !== null && typeof input.headers === 'object'
        ? Object.entries(input.headers as Record<string, unknown>)
        : undefined
    if (pairs === undefined) throw badEdit('edit "headers" must be [name, value] pairs or an object')
    edits.headers = pairs.map((pair: unknown): [string, string] => {
      if (
        !Array.isArray(pair) ||
        pair.length !== 2 ||
        !isString(pair[0]) ||
        !isString(pair[1]) ||
        !tokenPattern.test(pair[0]) ||
        /[\r\n\u0000]/.test(pair[1])
      ) {
        throw badEdit('each edited header needs a token name and a value without line breaks')
      }
      return [pair[0], pair[1]]
    })
  }
  if (input.bodyEncoding !== undefined && input.bodyEncoding !== 'utf8' && input.bodyEncoding !== 'base64') {
    throw badEdit('edit "bodyEncoding" must be "utf8" or "base64"')
  }
  if (input.body !== undefined) {
    if (!isString(input.body)) throw badEdit('edit "body" must be a string')
    edits.body = input.body
    if (input.bodyEncoding !== undefined) edits.bodyEncoding = input.bodyEncoding
  }
  return edits
}

/** The request to send again: the original with the edits applied. */
export function buildReplayRequest(original: ExchangeRecord, edits: ReplayEdits): ReplayRequest {
  let body: Buffer
  if (edits.body !== undefined) {
    body = Buffer.from(edits.body, edits.bodyEncoding === 'base64' ? 'base64' : 'utf8')
  } else if (!original.request.complete) {
    throw new InspectorError(
      InspectorErrorCode.BODY_INCOMPLETE,
      `request ${original.id} kept only ${original.request.kept} of its ${original.request.size} body bytes; replay it with an edited body instead`,
    )
  } else {
    body = Buffer.from(original.request.bytes())
  }
  const headers = edits.headers === undefined ? original.requestHeaders : Array.isArray(edits.headers) ? edits.headers : Object.entries(edits.headers)
  return {
    method: edits.method ?? original.method,
    path: edits.path ?? original.path,
    headers: headers.filter(([name]) => !droppedHeaders.has(name.toLowerCase())).map(([name, value]): [string, string] => [name, value]),
    body,
    ...(original.tunnelId ? { tunnelId: original.tunnelId } : {}),
  }
}

/** Sends the replay and returns the row it ended up as. */
export async function runReplay(
  log: RequestLog,
  original: ExchangeRecord,
  edits: ReplayEdits,
  replay: ReplayFunction | undefined,
  replayIsObserved: boolean,
): Promise<ExchangeRecord> {
  if (replay === undefined) {
    throw new InspectorError(InspectorErrorCode.REPLAY_UNAVAILABLE, 'this inspector was started without a replay function, so it cannot send requests again')
  }
  const request = buildReplayRequest(original, edits)
  let result: ReplayResult
  try {
    result = await replay(request)
  } catch (cause) {
    throw new InspectorError(
      InspectorErrorCode.REPLAY_FAILED,
      `replay of request ${original.id} failed: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    )
  }
  if (result === null || typeof result !== 'object' || !Number.isInteger(result.status) || !Array.isArray(result.headers) || !Buffer.isBuffer(result.body)) {
    throw new InspectorError(
      InspectorErrorCode.REPLAY_FAILED,
      'the replay function returned something other than { status, headers, body: Buffer, durationMs }',
    )
  }
  if (replayIsObserved && result.exchangeId !== undefined) {
    const observed = log.findByExchangeId(result.exchangeId)
    if (observed !== undefined) {
      log.markReplay(observed.id, original.id)
      return observed
    }
  }
  return log.record(
    {
      method: request.method,
      path: request.path,
      requestHeaders: request.headers,
      requestBody: request.body,
      status: result.status,
      responseHeaders: result.headers,
      responseBody: result.body,
      ...(typeof result.bodyBytes === 'number' && result.bodyBytes > result.body.length ? { responseBytes: result.bodyBytes } : {}),
      durationMs: Number.isFinite(result.durationMs) ? result.durationMs : 0,
      tunnelId: original.tunnelId,
    },
    original.id,
  )
}
