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
  const { status, text } = publicErrors[code]
  // The detail may come from the agent (a RESET reason): keep the body one line.
  const body = `${status} ${text}${detail ? ` (${detail.replace(/[\r\n]+/g, ' ')})` : ''} [request id ${requestId}]\n`
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
