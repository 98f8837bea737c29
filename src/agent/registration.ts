import { request } from 'undici'
import { AditError, ErrorCode } from '../errors.js'
import type { AgentState } from './state-file.js'
import type { TunnelAccessRequest } from './access-flags.js'

/** `POST {server}/register` → credentials for a new tunnel. */
export async function register(server: URL, apiKey: string | undefined, name?: string, access?: TunnelAccessRequest): Promise<AgentState> {
  const url = new URL('/register', server)
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (apiKey !== undefined) headers.authorization = `Bearer ${apiKey}`
  let response
  try {
    response = await request(url, {
      method: 'POST',
      headers,
      body: JSON.stringify({ ...(name === undefined ? {} : { name }), ...(access === undefined ? {} : { access }) }),
      headersTimeout: 15_000,
      bodyTimeout: 15_000,
    })
  } catch (cause) {
    throw new AditError(ErrorCode.REGISTRATION, 0, `cannot reach ${url.origin}: ${(cause as Error).message}; check --server and your network`, { cause })
  }
  const text = await response.body.text()
  if (response.statusCode !== 201 && response.statusCode !== 200) {
    const hint =
      response.statusCode === 401 || response.statusCode === 403
        ? ' (the server needs an API key: --api-key or ADIT_API_KEY)'
        : response.statusCode === 409
          ? ' (that --name belongs to another tunnel; choose another)'
          : ''
    throw new AditError(ErrorCode.REGISTRATION, response.statusCode, `registration refused with ${response.statusCode}${hint}: ${text.trim().slice(0, 200)}`)
  }
  let value: Partial<AgentState>
  try {
    value = JSON.parse(text) as Partial<AgentState>
  } catch (cause) {
    throw new AditError(ErrorCode.REGISTRATION, response.statusCode, `registration answer is not JSON; is ${url.origin} an adit server?`, { cause })
  }
  if (typeof value.id !== 'string' || typeof value.secret !== 'string' || typeof value.public_url !== 'string') {
    throw new AditError(ErrorCode.REGISTRATION, response.statusCode, 'registration answer lacks id, secret or public_url')
  }
  return { server: server.origin, id: value.id, secret: value.secret, public_url: value.public_url }
}
