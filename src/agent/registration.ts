import { request } from '../http/undici-parts.js'
import { AditError, ErrorCode } from '../errors.js'
import type { AgentState } from './state-file.js'
import type { TunnelAccessRequest } from './access-flags.js'
import { parseRetryAfter, type AttemptFailure } from './wait.js'

/**
 * `POST /register` failed. `failure` is what the retry policy reads: the
 * status (0: no answer), the server's Retry-After, and the detail.
 */
export class RegistrationError extends AditError {
  readonly failure: AttemptFailure
  constructor(message: string, failure: AttemptFailure, options?: { cause?: unknown }) {
    super(ErrorCode.REGISTRATION, failure.status, message, options)
    this.name = 'RegistrationError'
    this.failure = failure
  }
}

/** The one-line fix for an answer that retrying cannot change. */
function refusalHint(status: number, code: string | undefined): string {
  if (code === 'ADIT_ERR_TOO_MANY_TUNNELS')
    return " (this API key owns as many tunnels as the server allows: delete one with `adit tunnels rm`, or keep the agent's state file so a restart reuses its tunnel)"
  if (status === 401 || status === 403)
    return ' (credentials refused: pass a key the server accepts with --api-key or ADIT_API_KEY, or save one with `adit login <server> --api-key <key>`)'
  if (status === 409) return ' (that --name belongs to another tunnel; choose another)'
  return ''
}

/** `POST {server}/register` → credentials for a new tunnel. */
export async function register(
  server: URL,
  apiKey: string | undefined,
  name?: string,
  access?: TunnelAccessRequest,
  signal?: AbortSignal,
): Promise<AgentState> {
  const url = new URL('/register', server)
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (apiKey !== undefined && apiKey !== '') headers.authorization = `Bearer ${apiKey}`
  let response
  try {
    response = await request(url, {
      method: 'POST',
      headers,
      body: JSON.stringify({ ...(name === undefined ? {} : { name }), ...(access === undefined ? {} : { access }) }),
      headersTimeout: 15_000,
      bodyTimeout: 15_000,
      ...(signal ? { signal } : {}),
    })
  } catch (cause) {
    const detail = (cause as Error).message
    throw new RegistrationError(`cannot reach ${url.origin}: ${detail}; check --server and your network`, { status: 0, detail }, { cause })
  }
  const text = await response.body.text().catch(() => '')
  const status = response.statusCode
  if (status !== 201 && status !== 200) {
    const answer = errorOf(text)
    throw new RegistrationError(`registration refused with ${status}${refusalHint(status, answer.code)}: ${answer.message}`, {
      status,
      retryAfterMs: parseRetryAfter(response.headers['retry-after']),
      detail: answer.message,
      code: answer.code,
    })
  }
  let value: Partial<AgentState>
  try {
    value = JSON.parse(text) as Partial<AgentState>
  } catch (cause) {
    throw new AditError(ErrorCode.REGISTRATION, status, `registration answer is not JSON; is ${url.origin} an adit server?`, { cause })
  }
  if (typeof value.id !== 'string' || typeof value.secret !== 'string' || typeof value.public_url !== 'string') {
    throw new AditError(ErrorCode.REGISTRATION, status, 'registration answer lacks id, secret or public_url')
  }
  return { server: server.origin, id: value.id, secret: value.secret, public_url: value.public_url }
}

/** adit answers errors as `{error, message}`: the code, and the message alone (it reads better in one line). */
function errorOf(body: string): { message: string; code?: string } {
  const text = body.trim()
  try {
    const parsed = JSON.parse(text) as { message?: unknown; error?: unknown }
    if (typeof parsed.message === 'string') return { message: parsed.message, ...(typeof parsed.error === 'string' ? { code: parsed.error } : {}) }
  } catch {
    // not JSON: the text as it came
  }
  return { message: text.length > 300 ? `${text.slice(0, 300)}…` : text }
}
