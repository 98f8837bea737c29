import type { ServerResponse } from 'node:http'
import type { Http2ServerResponse } from 'node:http2'
import { ErrorCode, publicErrors, type PublicErrorCode } from '../errors.js'

/**
 * Writes one of the errors a public client can meet: the status, a one-line
 * body that says what to do, and the request id (also in a header) so an
 * operator can find the log line.
 */
export function sendPublicError(res: ServerResponse, code: PublicErrorCode, requestId: string, detail?: string, extraHeaders?: Record<string, string>): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  const grpc = grpcContentType(res)
  if (grpc !== null) return sendGrpcStatus(res, grpc, code, requestId, detail, extraHeaders)
  const { status } = publicErrors[code]
  const body = publicErrorBody(code, requestId, detail)
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-adit-request-id': requestId,
    'x-adit-error': code,
    ...extraHeaders,
  })
  res.end(body)
}

/**
 * gRPC status codes (grpc/doc/statuscodes.md) for adit's own errors: a gRPC
 * client reads the status, never an HTTP 502 body. Statuses follow gRPC's
 * HTTP mapping (404 → UNIMPLEMENTED, 429/502/503 → UNAVAILABLE …), with
 * DEADLINE_EXCEEDED for a service that did not answer in time.
 */
export const GrpcStatus = {
  CANCELLED: 1,
  UNKNOWN: 2,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const

const grpcStatusFor: Record<PublicErrorCode, number> = {
  [ErrorCode.UNKNOWN_TUNNEL]: GrpcStatus.UNIMPLEMENTED,
  [ErrorCode.AGENT_NOT_CONNECTED]: GrpcStatus.UNAVAILABLE,
  [ErrorCode.AGENT_RECONNECTING]: GrpcStatus.UNAVAILABLE,
  [ErrorCode.AGENT_TIMEOUT]: GrpcStatus.DEADLINE_EXCEEDED,
  [ErrorCode.LOCAL_UNREACHABLE]: GrpcStatus.UNAVAILABLE,
  [ErrorCode.STREAM_RESET]: GrpcStatus.UNAVAILABLE,
  [ErrorCode.BAD_RESPONSE]: GrpcStatus.INTERNAL,
  [ErrorCode.BODY_TOO_LARGE]: GrpcStatus.RESOURCE_EXHAUSTED,
  [ErrorCode.SHUTTING_DOWN]: GrpcStatus.UNAVAILABLE,
  [ErrorCode.BAD_REQUEST]: GrpcStatus.INTERNAL,
  [ErrorCode.UNAUTHORIZED]: GrpcStatus.UNAUTHENTICATED,
  [ErrorCode.RATE_LIMITED]: GrpcStatus.UNAVAILABLE,
  [ErrorCode.TOO_MANY_TUNNELS]: GrpcStatus.RESOURCE_EXHAUSTED,
  [ErrorCode.AUTH_REQUIRED]: GrpcStatus.UNAUTHENTICATED,
  [ErrorCode.IP_NOT_ALLOWED]: GrpcStatus.PERMISSION_DENIED,
  [ErrorCode.TOO_MANY_STREAMS]: GrpcStatus.UNAVAILABLE,
  [ErrorCode.TUNNEL_REVOKED]: GrpcStatus.NOT_FOUND,
  [ErrorCode.AUTH_THROTTLED]: GrpcStatus.UNAVAILABLE,
  [ErrorCode.AUTH_BUSY]: GrpcStatus.UNAVAILABLE,
  [ErrorCode.VISITOR_CREDENTIAL]: GrpcStatus.UNAUTHENTICATED,
}

/** The request's content-type when it is gRPC (`application/grpc`, `application/grpc+proto`, `application/grpc-web…`), else null. */
function grpcContentType(res: ServerResponse): string | null {
  const type = (res as { req?: { headers?: Record<string, string | string[] | undefined> } }).req?.headers?.['content-type']
  if (typeof type !== 'string' || !type.toLowerCase().startsWith('application/grpc')) return null
  return type.toLowerCase().startsWith('application/grpc-web') ? type.split(';')[0]!.trim() : 'application/grpc'
}

/**
 * A gRPC "trailers-only" answer: HTTP 200 whose head carries `grpc-status`
 * and a percent-encoded `grpc-message`, no body. Over HTTP/2 it is one
 * HEADERS frame with END_STREAM (node's compatibility layer would send an
 * empty DATA frame to end it, which some clients read as a missing status).
 */
function sendGrpcStatus(
  res: ServerResponse,
  contentType: string,
  code: PublicErrorCode,
  requestId: string,
  detail?: string,
  extraHeaders?: Record<string, string>,
): void {
  const message = publicErrorBody(code, requestId, detail).trim()
  const headers: Record<string, string> = {
    'content-type': contentType,
    'grpc-status': String(grpcStatusFor[code]),
    'grpc-message': encodeGrpcMessage(message),
    'cache-control': 'no-store',
    'x-adit-request-id': requestId,
    'x-adit-error': code,
    ...extraHeaders,
  }
  const stream = (res as unknown as Partial<Http2ServerResponse>).stream
  if (stream !== undefined && typeof stream.respond === 'function' && !stream.headersSent) {
    stream.respond({ ':status': 200, ...headers }, { endStream: true })
    return
  }
  res.writeHead(200, { ...headers, 'content-length': '0' })
  res.end()
}

/** grpc-message is percent-encoded UTF-8 (PROTOCOL-HTTP2.md): everything outside printable ASCII, and `%`. */
export function encodeGrpcMessage(text: string): string {
  let out = ''
  for (const byte of Buffer.from(text, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

/** The one-line body of a public error. The detail may come from the agent (a RESET reason): kept to one line. */
export function publicErrorBody(code: PublicErrorCode, requestId: string, detail?: string): string {
  const { status, text } = publicErrors[code]
  return `${status} ${text}${detail ? ` (${detail.replace(/[\r\n]+/g, ' ')})` : ''} [request id ${requestId}]\n`
}

/** The same error on a raw socket (an upgrade request that cannot be served); closes it. */
export function sendPublicErrorOnSocket(
  socket: import('node:stream').Duplex,
  code: PublicErrorCode,
  requestId: string,
  detail?: string,
  extraHeaders: Record<string, string> = {},
): void {
  if (socket.destroyed) return
  const { status } = publicErrors[code]
  const body = publicErrorBody(code, requestId, detail)
  const extra = Object.entries(extraHeaders)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')
  socket.end(
    `HTTP/1.1 ${status} ${statusText[status] ?? 'Error'}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `X-Adit-Request-Id: ${requestId}\r\nX-Adit-Error: ${code}\r\n${extra}Connection: close\r\n\r\n${body}`,
  )
}

const statusText: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  410: 'Gone',
  413: 'Payload Too Large',
  429: 'Too Many Requests',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
}
