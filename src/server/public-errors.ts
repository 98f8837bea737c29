import type { ServerResponse } from 'node:http'
import { publicErrors, type PublicErrorCode } from '../errors.js'

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
