import { ServerResponse } from 'node:http'
import { abortSocket } from '../http/abort-socket.js'

/**
 * Strict framing of what an agent answers (issue 11): the server, not the
 * agent, owns HTTP framing on the public side. An agent's response head is
 * checked before anything is written — a final status in 200–599, one valid
 * `content-length` or none — and its body is then held to that length, so a
 * hostile or broken agent can never put bytes on a public keep-alive socket
 * that the client would read as the answer to its next request.
 */

/** A response head the server may write, and how much body it promises. */
export interface FramedHead {
  headers: Array<[string, string]>
  /** Body bytes the public client expects; null when the body runs to its end (chunked or close-delimited). */
  bodyLength: number | null
}

/** Why an agent's response head cannot be passed on; the text goes into the one-line 502 body. */
export interface FramingError {
  detail: string
}

/** The largest content-length taken: a safe integer (larger values cannot be counted exactly). */
const MAX_LENGTH_DIGITS = 15

/**
 * Checks a final response head (status ≥ 200; interim heads are the caller's)
 * for a request with `method`. Repeated equal `content-length` values
 * (`5, 5`, or two `5` headers) are one length (RFC 9110 §8.6); anything else
 * that is not exactly one run of digits is an error, as are statuses outside
 * 200–599.
 */
export function frameResponseHead(status: number, headers: Array<[string, string]>, method: string): FramedHead | FramingError {
  if (!Number.isInteger(status) || status < 200 || status > 599) return { detail: `status ${status} is outside 100–599` }
  let length: string | undefined
  const out: Array<[string, string]> = []
  for (const pair of headers) {
    if (pair[0].length !== 14 || pair[0].toLowerCase() !== 'content-length') {
      out.push(pair)
      continue
    }
    for (const part of pair[1].split(',')) {
      const value = part.trim()
      if (!/^[0-9]+$/.test(value) || value.length > MAX_LENGTH_DIGITS) return { detail: `invalid content-length ${JSON.stringify(pair[1])}` }
      const normal = String(Number(value))
      if (length !== undefined && length !== normal) return { detail: `conflicting content-length values ${length} and ${normal}` }
      length = normal
    }
  }
  if (length !== undefined) out.push(['content-length', length])
  // No body follows a HEAD request's answer, a 204 or a 304, whatever the length says (RFC 9110 §6.4.1).
  const bodyless = method === 'HEAD' || status === 204 || status === 304
  return { headers: out, bodyLength: bodyless ? 0 : length === undefined ? null : Number(length) }
}

export function isFramingError(value: FramedHead | FramingError): value is FramingError {
  return 'detail' in value
}

/**
 * Ends a response that cannot be completed so the client can tell: over
 * HTTP/1 a TCP reset (a clean FIN would make a close-delimited body look
 * whole, and a short content-length body look like a slow one), over HTTP/2
 * an RST_STREAM(INTERNAL_ERROR) (h2c.ts makes an HTTP/2 response's destroy()
 * send it: node's own sends NO_ERROR, which a client reads as the body's end).
 * The connection is never reused.
 */
export function abortResponse(res: ServerResponse): void {
  const socket = res instanceof ServerResponse ? res.socket : null
  if (socket === null) res.destroy()
  else abortSocket(socket)
}
