/**
 * HAR 1.2 export of the log (http://www.softwareishard.com/blog/har-12-spec/).
 * Credentials are redacted by default: a HAR file is made to be shared, and
 * the headers that carry sessions and tokens must not travel with it unless
 * the user asks for them.
 */
import { viewBody } from './body-view.js'
import type { ExchangeRecord } from './request-log.js'
import { headerValue } from './request-log.js'

/** Always redacted unless the caller turns redaction off. */
export const defaultRedactedHeaders: readonly string[] = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie']
export const redactedValue = 'REDACTED'

export interface HarOptions {
  /** Origin (and any prefix) the paths are relative to, e.g. the tunnel's public URL. */
  baseUrl: string
  /** Lower-case header names whose values are replaced; empty to export everything. */
  redactHeaders: ReadonlySet<string>
  creatorVersion: string
  maxDecodedBytes: number
}

interface HarHeader {
  name: string
  value: string
}

export interface Har {
  log: {
    version: '1.2'
    creator: { name: string; version: string }
    entries: unknown[]
  }
}

const statusTexts: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  204: 'No Content',
  301: 'Moved Permanently',
  302: 'Found',
  304: 'Not Modified',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
}

function harHeaders(headers: Array<[string, string]>, redact: ReadonlySet<string>): HarHeader[] {
  return headers.map(([name, value]) => ({ name, value: redact.has(name.toLowerCase()) ? redactedValue : value }))
}

/** Joins a base URL and a request path without doubling or losing the slash between them. */
export function joinUrl(baseUrl: string, path: string): string {
  const base = baseUrl.endsWith('/') ? baseUrl.slice(0, -1) : baseUrl
  return base + (path.startsWith('/') ? path : `/${path}`)
}

function queryString(path: string): HarHeader[] {
  const at = path.indexOf('?')
  if (at < 0) return []
  return [...new URLSearchParams(path.slice(at + 1))].map(([name, value]) => ({ name, value }))
}

function bodyComment(truncated: boolean, evicted: boolean, size: number, kept: number): string | undefined {
  if (evicted) return `body of ${size} bytes was dropped from the inspector's memory to make room for newer ones`
  if (truncated) return `body truncated: ${kept} of ${size} bytes kept`
  return undefined
}

function entry(record: ExchangeRecord, options: HarOptions): unknown {
  const request = viewBody(record.request, record.requestHeaders, options.maxDecodedBytes)
  const response = viewBody(record.response, record.responseHeaders, options.maxDecodedBytes)
  const requestComment = bodyComment(request.truncated, request.evicted, request.size, request.keptBytes)
  const responseComment = bodyComment(response.truncated, response.evicted, response.size, response.keptBytes)
  const duration = record.durationMs ?? 0
  const harRequest: Record<string, unknown> = {
    method: record.method,
    url: joinUrl(options.baseUrl, record.path),
    httpVersion: 'HTTP/1.1',
    cookies: [],
    headers: harHeaders(record.requestHeaders, options.redactHeaders),
    queryString: queryString(record.path),
    headersSize: -1,
    bodySize: record.request.size,
  }
  if (record.request.size > 0) {
    harRequest.postData = {
      mimeType: request.contentType ?? 'application/octet-stream',
      // HAR 1.2 postData has no encoding field; binary goes as base64 with a comment saying so.
      text: request.data,
      ...(request.encoding === 'base64' || requestComment !== undefined
        ? { comment: [request.encoding === 'base64' ? 'text is base64' : undefined, requestComment].filter(Boolean).join('; ') }
        : {}),
    }
  }
  const content: Record<string, unknown> = {
    size: response.decoded ? Buffer.byteLength(response.data, response.encoding === 'utf8' ? 'utf8' : 'base64') : response.size,
    mimeType: response.contentType ?? 'application/octet-stream',
    text: response.data,
  }
  if (response.encoding === 'base64') content.encoding = 'base64'
  if (response.decoded) content.compression = (content.size as number) - response.keptBytes
  if (responseComment !== undefined) content.comment = responseComment
  const harEntry: Record<string, unknown> = {
    startedDateTime: new Date(record.startedAt).toISOString(),
    time: duration,
    request: harRequest,
    response: {
      status: record.status,
      statusText: statusTexts[record.status] ?? '',
      httpVersion: 'HTTP/1.1',
      cookies: [],
      headers: harHeaders(record.responseHeaders, options.redactHeaders),
      content,
      redirectURL: headerValue(record.responseHeaders, 'location') ?? '',
      headersSize: -1,
      bodySize: record.response.size,
    },
    cache: {},
    timings: { send: 0, wait: duration, receive: 0 },
  }
  if (record.error !== undefined) harEntry.comment = `failed: ${record.error}`
  if (record.replayOf !== undefined) harEntry._replayOf = record.replayOf
  return harEntry
}

/** @param records oldest first, as HAR viewers expect. */
export function buildHar(records: readonly ExchangeRecord[], options: HarOptions): Har {
  return {
    log: {
      version: '1.2',
      creator: { name: 'adit inspector', version: options.creatorVersion },
      entries: records.map((record) => entry(record, options)),
    },
  }
}
