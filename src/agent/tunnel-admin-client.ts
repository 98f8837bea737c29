/**
 * The client side of the server's tunnel endpoints: `POST
 * /tunnels/{id}/rotate`, `DELETE /tunnels/{id}` and (with the operator's
 * admin token) `GET /dashboard/api`. Library code: returns values, throws
 * AditError, prints nothing.
 */
import { request } from 'undici'
import { AditError, ErrorCode } from '../errors.js'
import type { AgentState } from './state-file.js'

export interface RotatedSecret {
  secret: string
  generation: number
  /** Until when the server still accepts the previous secret (ISO time). */
  previousValidUntil: string
}

/** A tunnel an instance holds agent connections for, as /dashboard/api lists it. */
export interface ServerTunnel {
  id: string
  connections: number
  activeStreams: number
  total: number
  lastRequestAt: string | undefined
}

async function call(url: URL, method: string, token: string): Promise<{ status: number; text: string }> {
  let response
  try {
    response = await request(url, { method, headers: { authorization: `Bearer ${token}` }, headersTimeout: 15_000, bodyTimeout: 15_000 })
  } catch (cause) {
    throw new AditError(ErrorCode.REGISTRATION, 0, `cannot reach ${url.origin}: ${(cause as Error).message}; check --server and your network`, { cause })
  }
  return { status: response.statusCode, text: await response.body.text() }
}

function refused(what: string, status: number, text: string): AditError {
  let message = text.trim().slice(0, 200)
  try {
    const parsed = JSON.parse(text) as { message?: unknown }
    if (typeof parsed.message === 'string') message = parsed.message
  } catch {
    // not JSON
  }
  const code =
    status === 401 || status === 403
      ? ErrorCode.UNAUTHORIZED
      : status === 410
        ? ErrorCode.TUNNEL_REVOKED
        : status === 404
          ? ErrorCode.UNKNOWN_TUNNEL
          : ErrorCode.BAD_REQUEST
  return new AditError(code, status, `${what} refused with ${status}: ${message}`)
}

/** A new secret for the tunnel of `state` (its current secret proves ownership). */
export async function rotateSecret(state: AgentState): Promise<RotatedSecret> {
  const { status, text } = await call(new URL(`/tunnels/${encodeURIComponent(state.id)}/rotate`, state.server), 'POST', state.secret)
  if (status !== 200) throw refused(`rotating tunnel ${state.id}`, status, text)
  const body = JSON.parse(text) as { secret?: unknown; generation?: unknown; previous_valid_until?: unknown }
  if (typeof body.secret !== 'string') throw new AditError(ErrorCode.BAD_REQUEST, status, 'the rotation answer has no secret; is this an adit server?')
  return { secret: body.secret, generation: Number(body.generation), previousValidUntil: String(body.previous_valid_until) }
}

/** Revokes tunnel `id` for good; `token` is its secret or the operator's admin token. */
export async function deleteTunnel(server: string, id: string, token: string): Promise<void> {
  const { status, text } = await call(new URL(`/tunnels/${encodeURIComponent(id)}`, server), 'DELETE', token)
  if (status !== 204) throw refused(`deleting tunnel ${id}`, status, text)
}

/** The tunnels the server instance holds agents for (needs the operator's ADIT_ADMIN_TOKEN). */
export async function listServerTunnels(server: string, adminToken: string): Promise<ServerTunnel[]> {
  const { status, text } = await call(new URL('/dashboard/api', server), 'GET', adminToken)
  if (status !== 200) throw refused('listing tunnels', status, text)
  const body = JSON.parse(text) as { tunnels?: Array<{ id: string; connections: unknown[]; activeStreams: number; total: number; lastRequestAt?: string }> }
  return (body.tunnels ?? []).map((t) => ({
    id: t.id,
    connections: t.connections.length,
    activeStreams: t.activeStreams,
    total: t.total,
    lastRequestAt: t.lastRequestAt,
  }))
}
